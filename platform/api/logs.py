"""App logs: the last lines, a long poll for following them (paas logs --tail), and search (the Log Center)."""

from asgiref.sync import sync_to_async
from django.db import transaction

from paas.logcenter import client, retention
from paas.logcenter.settings import current as logcenter_settings

from paas.platform import logs
from paas.platform.actions import access
from paas.platform.actions.events import record
from paas.platform.api.longpoll import query_cursor, query_wait, waiting
from paas.platform.api.params import query_int
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import BadRequest, Forbidden, Unavailable
from paas.platform.models import LogRetention


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


def _ask_logcenter(request, app_name: str | None, not_before=None) -> dict:
    """A search through paas-logs (logcenter/service.py); its refusals are 400s, its absence a 503."""
    wanted = {"op": "search", "app": app_name, "q": request.GET.get("q", ""), "since": request.GET.get("since"),
              "until": request.GET.get("until"), "limit": query_int(request, "limit", 100, 1, 1000),
              "cursor": request.GET.get("cursor"), "after": request.GET.get("after")}
    if not_before is not None:
        wanted["not_before"] = not_before.isoformat()
    return ask_logcenter(wanted)


def ask_logcenter(wanted: dict) -> dict:
    """paas-logs' answer to ``wanted``; its refusals are 400s naming the problem, its absence a 503."""
    try:
        return client.ask(logcenter_settings().socket_path, wanted)
    except client.LogCenterRefused as exc:
        raise BadRequest(str(exc)) from None
    except client.LogCenterUnavailable as exc:
        raise Unavailable(str(exc)) from None


def search(request, app):
    """Stored lines of the app matching ?q= (logcenter/query.py), newest first; ?cursor= pages on.

    Lines older than the app are not its own (an earlier app of the same name): never shown."""
    target = access.get_app(request.user, app)
    return _ask_logcenter(request, target.name, not_before=target.created_at)


def search_all(request):
    """The same over every app: admins only."""
    if not request.user.is_staff:
        raise Forbidden("searching every app's logs is for admins")
    return _ask_logcenter(request, None)


def usage(request, app):
    """The app's stored lines: how many, their bytes (text, and on disk), the oldest and newest; the retention."""
    target = access.get_app(request.user, app)
    answer = ask_logcenter({"op": "usage", "app": target.name})
    stored = answer["apps"][0] if answer["apps"] else {"lines": 0, "text_bytes": 0, "disk_bytes": 0,
                                                       "oldest": None, "newest": None}
    return {**stored, "app": target.name, "retention_days": retention_json(target)["days"]}


def usage_all(request):
    """Every app's stored lines: admins only."""
    if not request.user.is_staff:
        raise Forbidden("the log storage of every app is for admins")
    return ask_logcenter({"op": "usage", "app": None})


def retention_json(target) -> dict:
    """How long the app's lines are kept: its own setting (``own``) or the platform's default, at most the maximum."""
    settings = logcenter_settings()
    own = LogRetention.objects.filter(app=target).values_list("days", flat=True).first()
    return {"app": target.name, "days": retention.effective(own, settings.retention_days, settings.retention_max_days),
            "own": own is not None, "default_days": settings.retention_days, "max_days": settings.retention_max_days}


def show_retention(request, app):
    """How many days the app's log lines are kept."""
    target = access.get_app(request.user, app)
    LogRetention.publish_app(target.name)    # level-triggered: a publish lost to a Redis outage is repaired here
    return retention_json(target)


@body_schema({"days": "integer (1 to PAAS_LOG_RETENTION_MAX_DAYS), or null for the platform's default"})
def change_retention(request, app):
    """Keep the app's lines ``days`` days (older ones go within the hour), or the default again with null."""
    target = access.get_app(request.user, app)
    if "days" not in request.data:     # a body without it is a mistake, not a wish for the default
        raise BadRequest("days: wanted (a number of days, or null for the platform's default)")
    days = request.data["days"]
    if days is not None:
        try:
            days = retention.check_days(days, logcenter_settings().retention_max_days)
        except retention.RetentionError as exc:
            raise BadRequest(str(exc)) from None
    with transaction.atomic():
        if days is None:
            for row in LogRetention.objects.filter(app=target):
                row.delete()     # one by one: the delete signal publishes
            record(request.user, "logs.retention", "log retention back to the platform's default", app=target)
        else:
            LogRetention.objects.update_or_create(app=target, defaults={"days": days})
            record(request.user, "logs.retention", f"log lines kept {days} days", app=target)
    return retention_json(target)
