"""The static PID 1 helper, compiled on first use and cached by its source's hash.

Compiling lazily means no build step anywhere else: the first container start
on a host pays ~0.4 s for ``gcc -static``, every later one finds the binary.
"""

import os
import zlib
from pathlib import Path

from . import config
from .errors import InitBuildError

SOURCE = Path(__file__).resolve().parent / "init" / "paas-init.c"


def _digest() -> str:
    # CRC-32 plus length: enough to tell sources apart, and zlib loads in
    # microseconds where hashlib would add milliseconds to every start.
    data = SOURCE.read_bytes()
    return f"{zlib.crc32(data):08x}{len(data):x}"


def init_binary() -> Path:
    """Path of the compiled paas-init for the current source, building it if needed."""
    target = config.cache_dir() / f"paas-init-{_digest()}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent first starts never see a half-written binary.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    import subprocess

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
