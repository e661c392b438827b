"""A docker-backend instance's output, copied from the engine into its stdout.log and stderr.log.

The native runner's kernel appends an instance's output to those two files; with the Docker engine,
the engine keeps it (json-file, bounded), and each pass of the agent copies what is new into the same
files, so logs.py ships it exactly as it ships a native instance's (the same stream, fields and
offsets, LOGS.md). Where the copy stands is the engine's timestamp of the last line copied, kept
beside the files: a restarted agent copies from there, and the engine's fixed-width RFC 3339
timestamps compare as text.
"""

import json
from pathlib import Path

from .logs import STREAMS

PLACE = "docker-logs.json"


def pull(api, name: str, directory: Path) -> None:
    """Append the lines the engine has for container `name` since the last pull to its files."""
    place = _load(directory)
    for stream in STREAMS:
        last = place.get(stream, "")
        since = int(_epoch(last)) if last else None  # whole seconds: the lines of that second are skipped below
        data = api.logs(name, stdout=stream == "stdout", stderr=stream == "stderr", timestamps=True,
                        since=since)
        lines, newest = fresh_lines(data, last)
        if lines:
            with open(directory / f"{stream}.log", "ab") as out:
                out.write(b"".join(lines))
            place[stream] = newest
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


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()


def _load(directory: Path) -> dict:
    try:
        data = json.loads((directory / PLACE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if k in STREAMS and isinstance(v, str)} if isinstance(data, dict) else {}


def _save(directory: Path, place: dict) -> None:
    tmp = directory / f"{PLACE}.tmp"
    tmp.write_text(json.dumps(place))
    tmp.replace(directory / PLACE)
