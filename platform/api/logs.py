"""App logs: the last lines, and a long poll for following them (paas logs --tail)."""

from asgiref.sync import sync_to_async

from paas.platform import logs
from paas.platform.actions import access
from paas.platform.api.longpoll import query_cursor, query_wait, waiting
from paas.platform.api.params import query_int


def recent_or_follow(request, app) -> tuple[str, dict | None, tuple | None]:
    """The database part: the app's access check, the query parsed, and the answer when nothing waits."""
    target = access.get_app(request.user, app)
    process = request.GET.get("process") or None
    source = request.GET.get("source") or None
    cursor = query_cursor(request, latest=True)
    if cursor is None:
        rows = logs.recent(target.name, query_int(request, "lines", 100, 1, logs.MAX_LINES), process, source)
        return target.name, {"lines": rows, "cursor": rows[-1]["id"] if rows else "0-0"}, None
    return target.name, None, (cursor, query_wait(request), process, source)


async def read(request, app):
    """Log lines: the last ?lines=N, or with ?after=<cursor> those newer (waiting up to ?wait=S)."""
    name, page, follow = await sync_to_async(recent_or_follow)(request, app)
    if page is not None:
        return page
    cursor, wait_s, process, source = follow
    rows = await waiting(request.user, wait_s, lambda client: logs.after(client, name, cursor, wait_s))
    next_cursor = rows[-1]["id"] if rows else cursor
    return {"lines": [r for r in rows if logs.matches(r, process, source)], "cursor": next_cursor}
