"""Which buildpacks exist, in which order they detect, and overrides by name."""

import os
import re
from dataclasses import dataclass

from . import tenantfs
from .errors import BuildError

SHIPPED_DIR = os.path.dirname(os.path.abspath(__file__))
ORDER_FILE = "ORDER"
SUPPLY_FILE = "SUPPLY"
OVERRIDE_FILE = ".buildpacks"
OVERRIDE_VAR = "BUILDPACK"
OVERRIDE_MAX_BYTES = 16 * 1024  # a list of buildpack names
SCRIPTS = ("detect", "compile", "release")

# One path segment of a buildpack name: no "..", no hidden names, nothing a
# shell or a mount table could misread.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Buildpack:
    """A buildpack directory holding bin/detect, bin/compile and bin/release."""

    name: str
    path: str


def detection_order(buildpacks_dir: str = SHIPPED_DIR) -> list[Buildpack]:
    """The buildpacks named in buildpacks_dir/ORDER, in that order."""
    with open(os.path.join(buildpacks_dir, ORDER_FILE), encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    return [resolve(name, buildpacks_dir) for name in names]


def supply_order(buildpacks_dir: str = SHIPPED_DIR) -> list[tuple[Buildpack, str | None]]:
    """Supplying buildpacks (buildpacks_dir/SUPPLY, when there is one): each that detects runs
    before the buildpack that builds the app, adding to it (apt, for an Aptfile). A line
    `NAME FILE` names the file its detect looks for: without it in the app, detect is not run
    (a container start saved on every build that has no Aptfile)."""
    path = os.path.join(buildpacks_dir, SUPPLY_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = [line.split() for line in f if line.strip() and not line.lstrip().startswith("#")]
    found = []
    for name, *trigger in lines:
        if len(trigger) > 1 or (trigger and not _SEGMENT.fullmatch(trigger[0])):
            raise BuildError(f"{SUPPLY_FILE}: expected 'NAME [FILE]' (FILE a plain name), not {' '.join([name, *trigger])!r}")
        found.append((resolve(name, buildpacks_dir), trigger[0] if trigger else None))
    return found


def requested(config: dict[str, str], app_dir: str, buildpacks_dir: str = SHIPPED_DIR) -> list[Buildpack]:
    """Buildpacks forced by the BUILDPACK config var or a .buildpacks file.

    BUILDPACK holds one name or several separated by commas; .buildpacks
    holds one name per line (# comments allowed). The config var wins. An
    empty list means: detect.
    """
    if config.get(OVERRIDE_VAR, "").strip():
        names = [n.strip() for n in config[OVERRIDE_VAR].split(",") if n.strip()]
    else:
        names = _read_override_file(app_dir)
    return [resolve(name, buildpacks_dir) for name in names]


def resolve(name: str, buildpacks_dir: str = SHIPPED_DIR) -> Buildpack:
    """The buildpack called name: a shipped one or a directory placed under buildpacks_dir."""
    if "://" in name or name.startswith("git@"):
        raise BuildError(
            f"buildpack {name!r} is a URL; buildpacks are not fetched here: place it in the buildpacks "
            "directory and give its name"
        )
    segments = name.split("/")
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise BuildError(f"buildpack name {name!r} is not valid (use a name or a relative path of plain names)")
    path = os.path.join(buildpacks_dir, *segments)
    if not os.path.isfile(os.path.join(path, "bin", "compile")):
        raise BuildError(f"unknown buildpack {name!r}; available: {', '.join(available(buildpacks_dir))}")
    missing = [s for s in SCRIPTS if not os.path.isfile(os.path.join(path, "bin", s))]
    if missing:
        raise BuildError(f"buildpack {name!r} has no bin/{' or bin/'.join(missing)}")
    return Buildpack(name="/".join(segments), path=path)


def available(buildpacks_dir: str = SHIPPED_DIR) -> list[str]:
    """Names of the buildpacks found directly under buildpacks_dir."""
    return sorted(
        entry for entry in os.listdir(buildpacks_dir)
        if os.path.isfile(os.path.join(buildpacks_dir, entry, "bin", "compile"))
    )


def _read_override_file(app_dir: str) -> list[str]:
    # Read through tenantfs like every file of the app: no link, no FIFO, capped.
    raw = tenantfs.read_file(app_dir, OVERRIDE_FILE, OVERRIDE_MAX_BYTES)
    if raw is None:
        return []
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise BuildError(f"{OVERRIDE_FILE} is not valid UTF-8 text") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
