"""Where an app's build cache lives on this host: read by builds, cleared by `builds:cache:purge` and app deletion."""

from pathlib import Path

from django.conf import settings


def cache_dir_path(app_name: str) -> Path:
    return Path(settings.PAAS_DATA_DIR) / "cache" / "builds" / app_name
