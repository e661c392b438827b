"""The platform's own log alert on backups: every app with a PostgreSQL add-on has it, nobody sets it up.

One rule in one place. A capture that fails (its dump or its verification) and a scheduled backup
that ran late or not at all are recorded here: a platform event whose line in the app's log starts
with ``TAG``. The rule below is a Log Center alert on exactly those lines (source ``platform``: an
app cannot write one), published beside the app's own alerts (platform/models/alert.py) and checked
and delivered by the same code in ``paas-logs`` (logcenter/alerts.py): it fires when such a line is
in the last day, clears a day after the last one, is listed by ``paas logs:alerts`` with its state,
and calls every webhook the app's own alerts name.
"""

NAME = "backups"
TAG = "backup alert:"
QUERY = f'source:platform "{TAG}"'
ABOVE = 0
PER_S = 86400


def line(message: str) -> str:
    """The event's text for a failed or missed backup: what the rule matches (services/backups.py records it)."""
    return f"{TAG} {message}"


def rule_id(app_pk: int) -> int:
    """Its id among the published rules: negative, never a LogAlert row's."""
    return -app_pk


def rules(app_pk: int | None, webhooks: list[str]) -> list[dict]:
    """The rule as published for the app ``app_pk``: a list, empty for no app (one without a PostgreSQL add-on;
    platform/models/alert.py finds it)."""
    if app_pk is None:
        return []
    return [{"id": rule_id(app_pk), "name": NAME, "query": QUERY, "above": ABOVE, "per_s": PER_S,
             "webhooks": sorted(set(webhooks)), "platform": True}]
