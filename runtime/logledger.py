"""The shipper's own record of each log file, kept beside it: shipped so far, and dropped unreported.

Redis holds the offsets the shipper commits with its entries (logs.py), but a Redis that
restarts empty (it keeps nothing on disk) or loses its last writes would send the shipper
back to the start of every file: every line shipped again, and the blocks already given back
read as NULs. So after each committed batch the shipper also writes the offset here, and
trusts whichever of the two is further on.

While Redis is away the files keep growing. ``bound`` keeps the unshipped part of each file
under ``limit`` bytes: the oldest whole lines beyond it are dropped (their disk space given
back), counted here, and reported by one marker line once Redis is back (runtime/LOGS.md).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from . import config

#: Unshipped bytes kept per instance and stream while Redis is away (the rest is dropped and counted).
BACKLOG_BYTES = config.log_backlog_bytes()
_MAX_FILE = 128           # a ledger is three short numbers
_SCAN = 1 << 20           # bytes read at a time to count the lines dropped


@dataclass
class Ledger:
    """``offset``: shipped or dropped up to here. ``dropped``: lines dropped and not yet reported,
    the last of them ending at ``dropped_to`` (a commit in Redis at or past it carried the marker)."""

    offset: int = 0
    dropped: int = 0
    dropped_to: int = 0


def path_of(directory: Path, stream: str) -> Path:
    return directory / f"{stream}.shipped"


def load(directory: Path, stream: str) -> Ledger:
    """The ledger of one stream; an empty one when missing or not ours (a link, too big, not numbers)."""
    try:
        fd = os.open(path_of(directory, stream), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return Ledger()
    with os.fdopen(fd, "rb") as f:
        text = f.read(_MAX_FILE + 1)
    fields = text.split()
    if len(text) > _MAX_FILE or len(fields) != 3 or not all(x.isdigit() for x in fields):
        return Ledger()
    return Ledger(*(int(x) for x in fields))


def save(directory: Path, stream: str, ledger: Ledger) -> None:
    """Write the ledger whole (a new file renamed over the old one: a crash leaves one or the other)."""
    target = path_of(directory, stream)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{ledger.offset} {ledger.dropped} {ledger.dropped_to}\n")
    os.replace(tmp, target)


def start_offset(ledger: Ledger, committed: int | None) -> int:
    """Where shipping resumes: the further of Redis's committed offset and ours (ours is written
    after each commit, so it is behind only when a commit's own write was cut short)."""
    return max(ledger.offset, committed or 0)


def marker_due(ledger: Ledger, committed: int | None) -> bool:
    """Whether the drop still needs its marker: a commit at or past ``dropped_to`` already carried it."""
    return ledger.dropped > 0 and (committed is None or committed < ledger.dropped_to)


def marker_line(dropped: int, stream: str) -> str:
    return f"[paas: {dropped} lines of {stream} dropped while the log service was unreachable]"


def bound(path: Path, ledger: Ledger, size: int, limit: int | None = None) -> bool:
    """Drop the oldest unshipped lines of ``path`` beyond ``limit`` bytes, counting them in ``ledger``.

    Cuts after a newline so that shipping resumes at the start of a line (a run of ``limit``
    bytes without one is cut where it is). Returns whether anything was dropped.
    """
    limit = BACKLOG_BYTES if limit is None else limit
    if size - ledger.offset <= limit:
        return False
    cut, count = _count_to_cut(path, ledger.offset, size - limit)
    ledger.dropped += count
    ledger.offset = ledger.dropped_to = cut
    return True


def _count_to_cut(path: Path, start: int, at_least: int) -> tuple[int, int]:
    """(where to cut: the first line start at or after ``at_least``, lines before the cut)."""
    count, line_start = 0, start
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        f.seek(start)
        position = start
        while True:
            data = f.read(_SCAN)
            if not data:
                # No newline after at_least (a line still being written): cut there; its dropped
                # head counts as a line.
                cut = max(at_least, start)
                return cut, count + (1 if cut > line_start else 0)
            if position + len(data) >= at_least:
                # A newline just before at_least already ends a line there.
                newline = data.find(b"\n", max(0, at_least - 1 - position))
                if newline >= 0:
                    return position + newline + 1, count + data.count(b"\n", 0, newline) + 1
            count += data.count(b"\n")
            last = data.rfind(b"\n")
            if last >= 0:
                line_start = position + last + 1
            position += len(data)
