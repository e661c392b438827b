"""ENV_DIR: the app's config vars as one file per variable (Heroku classic API)."""

import os

from paas.runtime.validate import ENV_NAME

from .errors import BuildError


def write_env_dir(path: str, config: dict[str, str]) -> None:
    """Create path holding one file per config var, named for it, with its value."""
    os.makedirs(path, exist_ok=True)
    for name, value in sorted(config.items()):
        # An environment variable name is also a safe file name inside ENV_DIR.
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise BuildError(f"config var name {name!r} is not a valid environment variable name")
        if not isinstance(value, str):
            raise BuildError(f"config var {name} must be a string, not {type(value).__name__}")
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            f.write(value)
