"""The build pipeline: checkout → buildpacks in a build container → slug → release."""
