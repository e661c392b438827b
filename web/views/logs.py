"""Logs: the live tail of an app's stream and the Log Center's search (its query syntax: logcenter/query.py).

Search goes through the API's own handlers (platform/api/logs.py), so the access rule, the
limits and the refusals are the API's: an app's members search its lines, admins every app's.
"""

import re

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from paas.logcenter.query import QueryError, parse
from paas.platform import logs
from paas.platform.actions import access
from paas.platform.api import logs as api_logs
from paas.platform.api.longpoll import query_cursor
from paas.platform.exceptions import PlatformError
from paas.platform.redis_client import get_redis
from paas.web.guard import console_view

TAIL_LINES = 200


def highlight(line: str, words: list[str]) -> str:
    """The line escaped, with the query's words and phrases marked."""
    if not words:
        return escape(line)
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(line):
        out += [escape(line[last:match.start()]), "<mark>", escape(match.group()), "</mark>"]
        last = match.end()
    out.append(escape(line[last:]))
    return mark_safe("".join(out))


def query_words(q: str) -> list[str]:
    """What to highlight: the query's plain words and phrases (not negated ones, not fields)."""
    try:
        terms = parse(q)
    except QueryError:
        return []
    return [str(t.value) for t in terms if t.kind in ("word", "phrase") and not t.negate and t.value]


def chips(q: str) -> list[str]:
    """The query's terms one by one, shown as removable chips."""
    try:
        return [raw for raw in re.findall(r'-?\w+:\S+|-?"[^"]*"|\S+', q)] if parse(q) else []
    except QueryError:
        return []


def searched(request, app_name: str | None) -> dict:
    """The Log Center's answer to the page's query, or the reason there is none."""
    if "q" not in request.GET:
        return {}
    try:
        answer = api_logs.search(request, app_name) if app_name else api_logs.search_all(request)
    except PlatformError as error:
        return {"search_error": error.message}
    words = query_words(request.GET.get("q", ""))
    for line in answer.get("lines", []):
        line["html"] = highlight(line.get("line", ""), words)
    return {"results": answer}


@console_view()
def app_logs(request, app):
    target = access.get_app(request.user, app)
    context = {"app": target, "q": request.GET.get("q", ""), "since": request.GET.get("since", ""),
               "until": request.GET.get("until", ""), "chips": chips(request.GET.get("q", ""))}
    context.update(searched(request, target.name))
    return render(request, "console/logs.html", context)


@console_view(admin=True)
def all_logs(request):
    """Search every app's lines: admins only, as the API's /api/logs/search."""
    context = {"app": None, "q": request.GET.get("q", ""), "since": request.GET.get("since", ""),
               "until": request.GET.get("until", ""), "chips": chips(request.GET.get("q", ""))}
    context.update(searched(request, None))
    return render(request, "console/logs.html", context)


@require_GET
@console_view()
def tail(request, app):
    """The last lines, or with ?after=<cursor> those newer; the page polls this (no request waits here)."""
    target = access.get_app(request.user, app)
    cursor = query_cursor(request)
    if cursor is None:
        rows = logs.recent(target.name, TAIL_LINES)
    else:
        entries = get_redis().xrange(logs.stream_key(target.name), min="(" + cursor, count=logs.MAX_LINES)
        rows = [logs.decode(entry_id, fields, target.name) for entry_id, fields in entries]
    return JsonResponse({"lines": rows, "cursor": rows[-1]["id"] if rows else (cursor or "0-0")})
