"""Paths a build step sees (inside the build container) and the stack's PATH.

The build dir is /app, where the slug is unpacked at run time, so anything a
buildpack records as an absolute path stays right. The other directories sit
under /build, out of the slug.
"""

APP_DIR = "/app"
CACHE_DIR = "/build/cache"
ENV_DIR = "/build/env"
TMP_DIR = "/build/tmp"
BUILDPACKS_DIR = "/build/buildpacks"
# The app's last slug as this host unpacked it (read-only, compile only, when the platform has it):
# a buildpack may copy an unchanged dependency tree from it instead of keeping a copy in the cache.
PREVIOUS_DIR = "/build/previous"
# The CA bundle every step and instance trusts: the host's plus PAAS_TRUSTED_CA_FILE in a build
# container (runtime/trust.py binds it there); the host's own with the local executor.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# The stack's own tools only: nothing from the build host's user environment
# (pyenv shims, ~/.local) leaks into a build.
STACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def buildpack_target(name: str) -> str:
    """Where the buildpack called name is mounted for a step."""
    return f"{BUILDPACKS_DIR}/{name}"
