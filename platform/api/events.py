"""The audit log.

Events belong to the app object: an app's events are those recorded on that app,
so a new app with a reused name starts with none. Admins see every event, the
destroyed apps' too (by name, with the app's id to tell apps of one name apart);
others see their own actions and their apps' events. A run's command is shown
only to its actor and the app's members (serializers.event_json).
"""

from paas.platform.actions import access
from paas.platform.actions.events import visible_events
from paas.platform.api.params import query_int
from paas.platform.api.serializers import event_json
from paas.platform.names import check_app_name

MAX_EVENTS = 1000


def limit_from(request) -> int:
    return query_int(request, "limit", 100, 1, MAX_EVENTS)


def rows(request, events) -> list[dict]:
    members_of = set(access.member_apps(request.user).values_list("pk", flat=True))
    return [event_json(e, request.user.pk, members_of) for e in events[: limit_from(request)]]


def app_events(request, app):
    """What happened to one app, newest first."""
    target = access.get_app(request.user, app)
    return rows(request, target.events.all())


def list_events(request):
    """Your events and those of your apps (everything for admins), newest first; ?app=NAME for one name."""
    events = visible_events(request.user)
    name = request.GET.get("app")
    if name:
        check_app_name(name)
        events = events.filter(app_name=name)
    return rows(request, events)
