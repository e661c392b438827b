"""The audit log."""

from django.db.models import Q

from paas.platform.actions import access
from paas.platform.api.serializers import event_json
from paas.platform.exceptions import Invalid
from paas.platform.models import Event

MAX_EVENTS = 1000


def limit_from(request) -> int:
    raw = request.GET.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_EVENTS:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_EVENTS}")
    return int(raw)


def app_events(request, app):
    """What happened to one app, newest first."""
    target = access.get_app(request.user, app)
    return [event_json(e) for e in target.events.all()[: limit_from(request)]]


def list_events(request):
    """Your events and those of your apps (everything for admins), newest first."""
    events = Event.objects.all()
    if not request.user.is_staff:
        names = access.visible_apps(request.user).values_list("name", flat=True)
        events = events.filter(Q(actor=request.user) | Q(app_name__in=list(names)))
    return [event_json(e) for e in events[: limit_from(request)]]
