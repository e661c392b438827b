"""Where an app's build cache lives on this host: read by builds, cleared by `builds:cache:clear` and app deletion."""

import shutil
from pathlib import Path

from django.conf import settings


def cache_dir_path(app_name: str) -> Path:
    """The cache the app's builds write (handed to its build uid)."""
    return Path(settings.PAAS_DATA_DIR) / "cache" / "builds" / app_name


def base_images_path(app_name: str) -> Path:
    """The base images the platform pulled for the app's Dockerfile builds (buildpacks/dockerfile.py):
    the platform's own files, out of the build's reach (never under the cache it hands over)."""
    return Path(settings.PAAS_DATA_DIR) / "cache" / "bases" / app_name


def slug_segments_path(app_name: str) -> Path:
    """The compressed big subtrees of the app's last slug (buildpacks/segments.py): the platform's own
    files, out of the build's reach, reused by the next build while a subtree is unchanged."""
    return Path(settings.PAAS_DATA_DIR) / "cache" / "segments" / app_name


def remove(app_name: str) -> None:
    """Everything cached for the app's builds."""
    for path in (cache_dir_path(app_name), base_images_path(app_name), slug_segments_path(app_name)):
        shutil.rmtree(path, ignore_errors=True)
