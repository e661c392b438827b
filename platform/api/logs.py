"""App logs: the last lines, and a long poll for following them (paas logs --tail)."""

import re

from paas.platform import logs
from paas.platform.actions import access
from paas.platform.exceptions import Invalid

CURSOR = re.compile(r"\A(\$|\d{1,20}-\d{1,20})\Z")


def number(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name, str(default))
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise Invalid(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def read(request, app):
    """Log lines: the last ?lines=N, or with ?after=<cursor> those newer (waiting up to ?wait=S)."""
    target = access.get_app(request.user, app)
    process = request.GET.get("process") or None
    source = request.GET.get("source") or None
    cursor = request.GET.get("after")
    if cursor is None:
        rows = logs.recent(target.name, number(request, "lines", 100, 1, logs.MAX_LINES), process, source)
        return {"lines": rows, "cursor": rows[-1]["id"] if rows else "0-0"}
    if not CURSOR.match(cursor):
        raise Invalid("after must be a cursor returned by this endpoint")
    rows = logs.after(target.name, cursor, number(request, "wait", 0, 0, logs.MAX_WAIT_S))
    next_cursor = rows[-1]["id"] if rows else cursor
    return {"lines": [r for r in rows if logs.matches(r, process, source)], "cursor": next_cursor}
