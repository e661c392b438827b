"""Resource use for auditing: instance-hours and memory-hours."""

from datetime import datetime, time, timezone

from django.utils import timezone as dj_timezone

from paas.platform import usage
from paas.platform.actions import access
from paas.platform.exceptions import Invalid


def parse_day(raw: str | None, default: datetime) -> datetime:
    if not raw:
        return default
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise Invalid(f"{raw!r} is not a date like 2026-11-01") from None
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def period(request) -> tuple[datetime, datetime]:
    now = dj_timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    since = parse_day(request.GET.get("since"), month_start)
    until = parse_day(request.GET.get("until"), now)
    if until <= since:
        raise Invalid("until must be after since")
    return since, until


def report(apps, since, until) -> dict:
    rows = usage.usage(apps, since, until)
    return {"since": since.isoformat(), "until": until.isoformat(), "apps": rows, "teams": usage.by_team(rows)}


def all_usage(request):
    """Usage of the apps you can see (all apps for admins) between ?since= and ?until= (default: this month)."""
    since, until = period(request)
    return report(access.visible_apps(request.user), since, until)


def app_usage(request, app):
    """One app's usage between ?since= and ?until= (default: this month)."""
    target = access.get_app(request.user, app)
    since, until = period(request)
    return report([target], since, until)
