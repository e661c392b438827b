"""Host-wide lease files: which runtime holds which address or port.

Addresses of a bridge and ports of a network namespace are shared by every
runtime on the host (agents of several data dirs, the CLI, test runs), so
their leases live in one JSON file each under /run/paas (PAAS_LEASES_DIR),
guarded by an exclusive flock. /run empties at boot, as do the namespaces and
bridges the leases describe. Each lease names its runtime directory, so a
runtime only ever releases or sweeps its own.
"""

import fcntl
import json
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from . import config


def _me() -> dict:
    return {"runtime": str(config.runtime_dir())}


def directory() -> Path:
    """PAAS_LEASES_DIR (/run/paas): host-wide state of the runtimes, made on first use."""
    path = config.leases_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def locked_file(name: str):
    """An exclusive flock on `<name>.lock` in the leases directory, for as long as the block runs."""
    with open(directory() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def _locked(name: str):
    directory_ = directory()
    path = directory_ / f"{name}.json"
    with locked_file(name):
        leases = json.loads(path.read_text()) if path.exists() else {}
        before = dict(leases)
        yield leases
        if leases == before:
            return  # a lookup, or a release of nothing (every detach gives back ports): no write
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(leases, sort_keys=True))
        os.replace(tmp, path)


def allocate(name: str, owner: str, candidates: Iterable[str],
             usable: Callable[[str], bool] = lambda _: True) -> str | None:
    """Lease the first free, usable candidate to `owner`; the same owner gets the same one. None: all taken."""
    holder = {"id": owner, **_me()}
    with _locked(name) as leases:
        for key, held_by in leases.items():
            if held_by == holder:
                return key
        for key in candidates:
            if key not in leases and usable(key):
                leases[key] = holder
                return key
    return None


def release(name: str, owner: str) -> list[str]:
    """Give back `owner`'s leases; returns what they were."""
    holder = {"id": owner, **_me()}
    with _locked(name) as leases:
        freed = [key for key, held_by in leases.items() if held_by == holder]
        for key in freed:
            del leases[key]
    return freed


def owners(name: str) -> set[str]:
    """Ids holding leases of this runtime."""
    me = _me()["runtime"]
    with _locked(name) as leases:
        return {held_by["id"] for held_by in leases.values() if held_by.get("runtime") == me}
