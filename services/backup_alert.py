"""The platform's own log alert on backups: every app with a PostgreSQL add-on has it, nobody sets it up.

One rule in one place. A capture that fails (its dump or its verification) and a scheduled backup
that ran late or not at all are recorded here: a platform event whose line in the app's log starts
with ``TAG``. The rule below is a Log Center alert on exactly those lines (source ``platform``: an
app cannot write one), published beside the app's own alerts (platform/models/alert.py) and checked
and delivered by the same code in ``paas-logs`` (logcenter/alerts.py): it fires when such a line is
in the last day, clears a day after the last one, is listed by ``paas logs:alerts`` with its state,
and calls every webhook the app's own alerts name.
"""

from paas.platform.actions.events import record

NAME = "backups"
TAG = "backup alert:"
QUERY = f'source:platform "{TAG}"'
ABOVE = 0
PER_S = 86400


def raise_alert(app, action: str, message: str) -> None:
    """Record a failed or missed backup of ``app``: an event, a line in its log, and so this alert."""
    record(None, action, f"{TAG} {message}", app=app)


def rule_id(app_pk: int) -> int:
    """Its id among the published rules: negative, never a LogAlert row's."""
    return -app_pk


def rules(app_name: str, webhooks: list[str]) -> list[dict]:
    """The rule as published for ``app_name`` (a list: none for an app without a PostgreSQL add-on)."""
    from paas.platform.models import App

    app = App.objects.filter(name=app_name, addon_attachments__addon__service="postgres").first()
    if app is None:
        return []
    return [{"id": rule_id(app.pk), "name": NAME, "query": QUERY, "above": ABOVE, "per_s": PER_S,
             "webhooks": sorted(set(webhooks)), "platform": True}]
