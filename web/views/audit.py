"""The audit log with filters (who, app, action, time): the events the API's rule lets the user read."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from paas.platform.actions import access
from paas.platform.actions.events import visible_events
from paas.platform.api.serializers import event_json
from paas.web.guard import console_view

PER_PAGE = 50
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def filtered(request, events):
    """The events narrowed by the form's fields; each filter is an indexed equality or prefix."""
    who = request.GET.get("who", "").strip()[:150]
    app = request.GET.get("app", "").strip()[:30]
    action = request.GET.get("action", "").strip()[:50]
    period = request.GET.get("period", "")
    if who:
        events = events.filter(actor_name=who)
    if app:
        events = events.filter(app_name=app)
    if action:
        events = events.filter(action__startswith=action)
    if period in PERIODS:
        events = events.filter(created_at__gte=timezone.now() - PERIODS[period])
    return events


@console_view()
def event_list(request):
    """Newest first, a page at a time (?before=<id> pages on); a run's command only for insiders."""
    events = filtered(request, visible_events(request.user))
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit() and len(before) < 19:
        events = events.filter(pk__lt=int(before))
    page = list(events[:PER_PAGE + 1])
    member_of = set(access.member_apps(request.user).values_list("pk", flat=True))
    rows = [event_json(e, request.user.pk, member_of) for e in page[:PER_PAGE]]
    older = page[PER_PAGE - 1].pk if len(page) > PER_PAGE else None
    keep = {k: request.GET.get(k, "") for k in ("who", "app", "action", "period")}
    return render(request, "console/events.html", {"events": rows, "older": older, "filters": keep,
                                                   "periods": PERIODS})
