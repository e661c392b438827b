"""Tables for people, JSON for scripts."""

import json
import sys


def emit_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def table(rows: list[dict], columns: list[tuple[str, str]], empty: str = "(none)") -> None:
    """Print ``rows`` with ``columns`` as (key, heading) pairs, aligned."""
    if not rows:
        print(empty)
        return
    cells = [[heading for _, heading in columns]]
    cells += [[cell(row.get(key), key) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for index, line in enumerate(cells):
        print("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def cell(value, key: str = "") -> str:
    if value is None:
        return ""
    if key.endswith("_at") and isinstance(value, str):
        # 2026-01-02T03:04:05.678+00:00 -> 2026-01-02 03:04:05 (times are UTC)
        return value[:19].replace("T", " ")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def pairs(data: dict) -> None:
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        print(f"{key + ':':<{width + 1}} {cell(value)}")
