"""Log drains: list (with each one's state from paas-logs), add, remove."""

from django.db import IntegrityError, transaction

from paas.logcenter import client, destinations
from paas.logcenter.settings import current as logcenter_settings
from paas.platform.actions import access
from paas.platform.actions.events import record
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import BadRequest, Conflict, NotFound
from paas.platform.models import LogDrain

MAX_DRAINS = 10    # per app: each is a thread and a buffer in paas-logs


UNKNOWN = {"state": "unknown", "buffered": 0, "sent": 0, "dropped": 0, "last_error": "the log center is not answering"}
# Published, not yet picked up by paas-logs (it reads the drains every 2 s): lines from then on are sent.
STARTING = {"state": "starting", "buffered": 0, "sent": 0, "dropped": 0, "last_error": ""}


def drain_json(drain: LogDrain, state: dict) -> dict:
    dest = destinations.parse(drain.url)
    return {"id": drain.pk, "url": dest.redacted(), "created_at": drain.created_at.isoformat(),
            **{k: state.get(k) for k in ("state", "buffered", "sent", "dropped", "last_error")}}


def list_drains(request, app):
    """The app's drains with their state in paas-logs (sending, connecting, failing), buffered, sent, dropped."""
    target = access.get_app(request.user, app)
    drains = list(target.drains.all())
    LogDrain.publish_app(target.name)    # level-triggered: a publish lost to a Redis outage is repaired here
    states, missing = client.states_by_id(logcenter_settings().socket_path, "drains", target.name, STARTING, UNKNOWN)
    return [drain_json(d, states.get(d.pk, missing)) for d in drains]


@body_schema({"url": "string (syslog://, syslog+tls://, https://, loki://, loki+https://)"})
def create(request, app):
    """Send every line of the app on to ``url``; private addresses only where the admin allowed them."""
    target = access.get_app(request.user, app)
    url = request.data.get("url")
    try:
        dest = destinations.check(url, destinations.allowed_networks(logcenter_settings().drain_allow))
    except destinations.DestinationError as exc:
        raise BadRequest(str(exc)) from None
    try:
        with transaction.atomic():
            if target.drains.count() >= MAX_DRAINS:
                raise Conflict(f"app {target.name!r} has {MAX_DRAINS} drains already")
            drain = LogDrain.objects.create(app=target, url=url)
            record(request.user, "drain.add", f"added a drain to {dest.kind}://{dest.host}", app=target)
    except IntegrityError:
        raise Conflict(f"app {target.name!r} drains to {dest.redacted()} already") from None
    return 201, drain_json(drain, STARTING)


def destroy(request, app, drain_id):
    """Stop draining the app to this drain (by id, as ``paas drains`` shows it)."""
    target = access.get_app(request.user, app)
    drain = target.drains.filter(pk=drain_id).first()
    if drain is None:
        raise NotFound(f"app {target.name!r} has no drain {drain_id}")
    dest = destinations.parse(drain.url)
    with transaction.atomic():
        drain.delete()
        record(request.user, "drain.remove", f"removed the drain to {dest.kind}://{dest.host}", app=target)
    return {"removed": drain_id}
