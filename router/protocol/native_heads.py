"""The C head checker and rewriter (native/heads.c), built by the set-up.

``make install`` (compose/bootstrap.sh) runs ``python -m paas.router.protocol.native_heads``,
which compiles the extension with gcc into ``native/build/`` (or ``$PAAS_CACHE_DIR``), named by
the digest of its source, the flags and the interpreter. Importing the router never compiles: ``load``
imports the file built for the current source, if there is one. A build writes under
a temporary name and renames it into place, so no worker imports a half-written file.

When it was not built (no gcc, a failed compile, a source changed since the set-up)
or ``PAAS_ROUTER_NATIVE=0``, ``load`` returns None, says why once in the log, and the
router runs the Python checks (framing.py, forwarding.py): same decisions, slower.
"""

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

log = logging.getLogger("paas.router")

SOURCE = Path(__file__).resolve().parent / "native" / "heads.c"
MODULE = "_paas_heads"
_FLAGS = ["-O2", "-shared", "-fPIC", "-Wall", "-fno-strict-aliasing"]
_loaded = False
_module = None


def enabled() -> bool:
    """False when the environment forces the Python path (PAAS_ROUTER_NATIVE=0)."""
    return os.environ.get("PAAS_ROUTER_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    """Where built extensions live: ``$PAAS_CACHE_DIR`` when set, else ``native/build/`` beside the
    source, which the set-up writes and whichever user runs the router (``paas`` under systemd,
    whose home is not the installer's) can read."""
    env = os.environ.get("PAAS_CACHE_DIR")
    return Path(env).expanduser() if env else SOURCE.parent / "build"


def target_path(extra_flags: tuple = ()) -> Path:
    """Where the extension for this source, these flags and this interpreter lives."""
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join([*_FLAGS, *extra_flags]).encode())
    h.update(sys.version.encode())
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return cache_dir() / f"router-heads-{h.hexdigest()[:16]}{suffix}"


def build(extra_flags: tuple = ()) -> Path:
    """The compiled extension's path, compiling it if needed; RuntimeError on failure."""
    target = target_path(extra_flags)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    cmd = ["gcc", *_FLAGS, *extra_flags, f"-I{sysconfig.get_paths()['include']}",
           "-o", str(tmp), str(SOURCE)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise RuntimeError("gcc is not installed") from None
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise RuntimeError("gcc took over 120 s") from None
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"gcc failed: {last}")
    os.replace(tmp, target)
    return target


def import_from(path: Path):
    """Import the extension module at ``path`` (not via sys.path: it lives in the cache)."""
    loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
    spec = importlib.util.spec_from_file_location(MODULE, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load():
    """The native module if the set-up built it for this source, else None (the Python path).

    Never compiles; logs at most once why the Python path runs.
    """
    global _loaded, _module
    if _loaded:
        return _module
    _loaded = True
    if not enabled():
        log.info("router heads: Python path (PAAS_ROUTER_NATIVE=0)")
        return None
    path = target_path(_extra_flags())
    if not path.exists():
        log.warning("router heads: native checker not built for this source (%s is missing: "
                    "run make install); using the Python path", path)
        return None
    try:
        _module = import_from(path)
    except Exception as exc:   # any failure leaves the Python path, which is complete
        log.warning("router heads: native checker unavailable (%s); using the Python path", exc)
        _module = None
    return _module


def _extra_flags() -> tuple:
    # Extra compiler flags, for checking the C code (-fsanitize=address -g).
    return tuple(os.environ.get("PAAS_ROUTER_NATIVE_CFLAGS", "").split())


def main() -> int:
    """The set-up's build step: compile (if not cached) and say where; 1 with the reason on failure."""
    try:
        path = build(_extra_flags())
    except RuntimeError as exc:
        print(f"router heads: not built ({exc}); the router will use the Python path", file=sys.stderr)
        return 1
    print(f"router heads: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
