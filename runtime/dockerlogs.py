"""A docker-backend instance's output, copied from the engine into its stdout.log and stderr.log.

The native runner's kernel appends an instance's output to those two files; with the Docker engine,
the engine keeps it (json-file, bounded), and each pass of the agent copies what is new into the same
files, so logs.py ships it exactly as it ships a native instance's (the same stream, fields and
offsets, LOGS.md). Where the copy stands is the engine's timestamp of the last line copied and the
file's size after it, kept beside the files: a restarted agent copies from there (the engine's
fixed-width RFC 3339 timestamps compare as text), and what it had appended without saving that place
is not appended again.
"""

import json
from pathlib import Path

from .logs import STREAMS

PLACE = "docker-logs.json"


def pull(api, name: str, directory: Path) -> None:
    """Append the lines the engine has for container `name` since the last pull to its files."""
    place = _load(directory)
    for stream in STREAMS:
        path = directory / f"{stream}.log"
        last, size = place.get(stream, ("", 0))
        since = int(_epoch(last)) if last else None  # whole seconds: the lines of that second are skipped below
        data = api.logs(name, stdout=stream == "stdout", stderr=stream == "stderr", timestamps=True,
                        since=since)
        lines, newest = fresh_lines(data, last)
        # An agent stopped between appending and saving the place appended these already: not twice.
        lines = lines_after(lines, _size(path) - size)
        if lines:
            with open(path, "ab") as out:
                out.write(b"".join(lines))
        if newest != last:
            place[stream] = (newest, _size(path))
            _save(directory, place)


def fresh_lines(data: bytes, last: str) -> tuple[list[bytes], str]:
    """The lines of the engine's output (``<timestamp> <line>``) stamped after `last`, without their
    stamps, and the newest stamp."""
    out, newest = [], last
    for entry in data.splitlines(keepends=True):
        stamp, _, line = entry.partition(b" ")
        text = stamp.decode("ascii", "replace")
        if text <= last:
            continue
        out.append(line)
        newest = text
    return out, newest


def lines_after(lines: list[bytes], written: int) -> list[bytes]:
    """`lines` less those whose `written` bytes are in the file already (a copy whose place was not saved)."""
    while lines and written >= len(lines[0]):
        written -= len(lines.pop(0))
    return lines


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()


def _load(directory: Path) -> dict:
    """{stream: (the last stamp copied, the file's size after it)}; a file that is not that: nothing copied."""
    try:
        data = json.loads((directory / PLACE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: (v[0], v[1]) for k, v in data.items() if k in STREAMS and isinstance(v, list) and len(v) == 2
            and isinstance(v[0], str) and isinstance(v[1], int)}


def _save(directory: Path, place: dict) -> None:
    tmp = directory / f"{PLACE}.tmp"
    tmp.write_text(json.dumps({k: list(v) for k, v in place.items()}))
    tmp.replace(directory / PLACE)
