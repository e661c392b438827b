"""The static helper binary (paas-init: the start helper and PID 1 of every container), compiled on first use.

Compiling lazily means no build step anywhere else: the first container start
on a host pays ~1 s for ``gcc -static``, every later one finds the binary in
the cache, named by the digest of its source, so a ``git pull`` that changes
it builds the new one and never runs a stale helper.
"""

import hashlib
import os
import subprocess
from pathlib import Path

from . import config
from .errors import InitBuildError

INIT_DIR = Path(__file__).resolve().parent / "init"
SOURCE = INIT_DIR / "paas-init.c"


def digest() -> str:
    """The sha256 of the source (its first 16 hex digits name the cached binary)."""
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]


def init_binary() -> Path:
    """Path of the compiled binary for the current source, building it if needed."""
    target = config.cache_dir() / f"paas-init-{digest()}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent first starts never see a half-written binary.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    cmd = ["gcc", "-static", "-Os", "-s", "-Wall", "-Wno-format-truncation", "-o", str(tmp), str(SOURCE)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InitBuildError("gcc is not installed: it is needed once to build the container init") from None
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        first = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise InitBuildError(f"building paas-init failed (is libc6-dev installed?): {first}")
    os.replace(tmp, target)
    return target
