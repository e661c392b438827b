"""The last lines of instances that ended while Redis was away, kept until they are shipped.

An ended instance's directory (and its log files) is removed once the agent has reported it.
If its final shipping failed because Redis was away, what it had not shipped is copied here
first: each file's unshipped part at the same offsets (the rest a hole, so it takes no disk
and the offsets in Redis and in the ledger stay valid), its ledger and its labels. Every pass
of the agent then ships what is here with the same ``logs.ship`` and removes it once shipped.

Its offsets are the ledger's alone, not Redis's: the instance may run again under the same name
(a restart) while its earlier run's lines wait here. For the same reason a removed instance's
offsets in Redis that could not be dropped (Redis away) are owed (``<name>.forget``) and dropped
before anything of that name is shipped again.
"""

import json
import logging
import os
import shutil
from pathlib import Path

from . import config, logledger

log = logging.getLogger(__name__)
_MAX_LABELS = 4096


def spool_dir() -> Path:
    return config.runtime_dir() / "logspool"


def keep(container_id: str, directory: Path, labels: dict, streams: tuple) -> None:
    """Copy the unshipped part of each stream of ``directory`` into the spool (already bounded by
    logledger.bound when Redis went away)."""
    target = spool_dir() / container_id
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stream in streams:
        ledger = logledger.load(directory, stream)
        _copy_tail(directory / f"{stream}.log", target / f"{stream}.log", ledger.offset)
        logledger.save(target, stream, ledger)
    (target / "labels.json").write_text(json.dumps(labels))


def _copy_tail(source: Path, target: Path, offset: int) -> None:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "rb") as src, open(target, "wb") as dst:
        src.seek(offset)
        dst.seek(offset)   # sparse: the shipped part stays a hole
        shutil.copyfileobj(src, dst, 1 << 20)


def pending() -> list[tuple[str, Path, dict]]:
    """(container id, directory, labels) of every spooled instance."""
    root = spool_dir()
    found = []
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        if not directory.is_dir():
            continue
        try:
            with open(directory / "labels.json", "rb") as f:
                labels = json.loads(f.read(_MAX_LABELS))
        except (OSError, ValueError):
            continue   # half-written: keep() is still at it, or its copy failed; the next pass sees
        if isinstance(labels, dict):
            found.append((directory.name, directory, {k: str(v) for k, v in labels.items()}))
    return found


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


# Offsets in Redis that could not be dropped when their instance was removed (Redis away).
def _owed(container_id: str) -> Path:
    return spool_dir() / f"{container_id}.forget"


def owe_forget(container_id: str) -> None:
    spool_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    _owed(container_id).touch()


def owes_forget(container_id: str) -> bool:
    return _owed(container_id).exists()


def forgiven(container_id: str) -> None:
    _owed(container_id).unlink(missing_ok=True)


def owed_forgets() -> list[str]:
    root = spool_dir()
    return sorted(p.name[:-len(".forget")] for p in root.glob("*.forget")) if root.is_dir() else []
