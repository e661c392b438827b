"""Log alerts: saved searches with a threshold and a webhook: list (with their state in paas-logs), add, remove."""

from django.db import IntegrityError, transaction

from paas.logcenter import alerts, client, destinations
from paas.logcenter.query import QueryError
from paas.logcenter.settings import current as logcenter_settings
from paas.platform.actions import access
from paas.platform.actions.events import record
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import BadRequest, Conflict, Invalid, NotFound
from paas.platform.models import LogAlert
from paas.platform.models.alert import platform_rules
from paas.platform.names import check_instance_name
from paas.services import backup_alert

MAX_ALERTS = 20    # per app: each is a search every minute in paas-logs
UNKNOWN = {"firing": None, "count": None, "checked_at": "", "last_error": "the log center is not answering"}
WAITING = {"firing": False, "count": None, "checked_at": "", "last_error": ""}   # not checked yet


def alert_json(alert: LogAlert, state: dict) -> dict:
    webhook = destinations.parse(alert.webhook, destinations.WEBHOOK_SCHEMES).redacted()
    return {"name": alert.name, "query": alert.query, "above": alert.above, "per_seconds": alert.per_s,
            "webhook": webhook, "platform": False, "created_at": alert.created_at.isoformat(),
            **{k: state.get(k) for k in ("firing", "count", "checked_at", "last_error")}}


def platform_json(rule: dict, state: dict) -> dict:
    """The platform's own alert (services/backup_alert.py), listed like the app's: ``platform`` says it is."""
    return {"name": rule["name"], "query": rule["query"], "above": rule["above"], "per_seconds": rule["per_s"],
            "webhook": "every webhook of the alerts above" if rule["webhooks"] else "none (listed here only)",
            "platform": True, "created_at": None,
            **{k: state.get(k) for k in ("firing", "count", "checked_at", "last_error")}}


def list_alerts(request, app):
    """The app's alerts, then the platform's own on its backups: firing or not, the last count and check, the
    webhooks' last error."""
    target = access.get_app(request.user, app)
    rows = list(target.log_alerts.all())
    LogAlert.publish_app(target.name)    # level-triggered: a publish lost to a Redis outage is repaired here
    states, missing = client.states_by_id(logcenter_settings().socket_path, "alerts", target.name, WAITING, UNKNOWN)
    platform = platform_rules(target.name, [a.webhook for a in rows])
    return [alert_json(a, states.get(a.pk, missing)) for a in rows] + \
        [platform_json(r, states.get(r["id"], missing)) for r in platform]


@body_schema({"name": "string", "query": "string (log search)", "above": "integer", "per": "string (1m to 1d)",
              "webhook": "string (https:// or http://)"})
def create(request, app):
    """Check ``query`` every minute; POST to ``webhook`` when more than ``above`` lines matched in ``per``."""
    target = access.get_app(request.user, app)
    data = request.data
    name = data.get("name")
    try:
        check_instance_name(name)
    except Invalid:
        raise BadRequest("name: wants lowercase letters, digits and dashes (at most 100)") from None
    if name == backup_alert.NAME:
        raise Conflict(f"{name!r} is the platform's alert on failed and missed backups: choose another name")
    try:
        fields = alerts.check_rule(data.get("query"), data.get("above"), data.get("per"), data.get("webhook"),
                                   destinations.allowed_networks(logcenter_settings().drain_allow))
    except (QueryError, destinations.DestinationError) as exc:
        raise BadRequest(str(exc)) from None
    try:
        with transaction.atomic():
            if target.log_alerts.count() >= MAX_ALERTS:
                raise Conflict(f"app {target.name!r} has {MAX_ALERTS} alerts already")
            alert = LogAlert.objects.create(app=target, name=name, **fields)
            record(request.user, "alert.add", f"added the log alert {name}", app=target)
    except IntegrityError:
        raise Conflict(f"app {target.name!r} has an alert named {name!r} already") from None
    return 201, alert_json(alert, WAITING)


def destroy(request, app, name):
    """Remove the alert ``name``."""
    target = access.get_app(request.user, app)
    alert = target.log_alerts.filter(name=name).first()
    if alert is None and name == backup_alert.NAME:
        raise Conflict(f"{name!r} is the platform's alert on failed and missed backups: it stays while the app "
                       "has a PostgreSQL add-on")
    if alert is None:
        raise NotFound(f"app {target.name!r} has no alert {name!r}")
    with transaction.atomic():
        alert.delete()
        record(request.user, "alert.remove", f"removed the log alert {name}", app=target)
    return {"removed": name}
