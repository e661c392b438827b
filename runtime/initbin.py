"""The static helper binary (paas-init, and paas-runner's native front end), compiled on first use.

Compiling lazily means no build step anywhere else: the first container start
on a host pays ~1 s for ``gcc -static``, every later one finds the binary in
the cache, named by the digest of its sources. The digest is compiled in too
(PAAS_DIGEST): an installed copy of the front end compares it with the
checkout's sources on every start, so a ``git pull`` never leaves a stale
front end running (see cli.install_launcher).
"""

import os
import zlib
from pathlib import Path

from . import config
from .errors import InitBuildError

INIT_DIR = Path(__file__).resolve().parent / "init"
# Digest order; paas-runner.c's SOURCES lists the same names in the same order.
SOURCES = ("paas-init.c", "paas-init.h", "paas-runner.c")
COMPILED = ("paas-init.c", "paas-runner.c")


def digest() -> str:
    """CRC-32 and length of the sources, as paas-runner.c's is_current computes them."""
    # zlib, not hashlib: it loads in microseconds where hashlib would add
    # milliseconds to every Python start, and C computes it in a few lines.
    crc, total = 0, 0
    for name in SOURCES:
        data = (INIT_DIR / name).read_bytes()
        crc = zlib.crc32(data, crc)
        total += len(data)
    return f"{crc:08x}{total:x}"


def init_binary() -> Path:
    """Path of the compiled binary for the current sources, building it if needed."""
    name = digest()
    target = config.cache_dir() / f"paas-init-{name}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent first starts never see a half-written binary.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    import subprocess

    cmd = ["gcc", "-static", "-Os", "-s", "-Wall", "-Wno-format-truncation", f'-DPAAS_DIGEST="{name}"',
           "-o", str(tmp), *(str(INIT_DIR / source) for source in COMPILED)]
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
