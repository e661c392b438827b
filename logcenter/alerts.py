"""Saved searches with a threshold: ``paas logs:alerts:add NAME QUERY --above N --per 5m --webhook URL``.

The platform keeps the alerts (Postgres, platform/models/alert.py) and publishes each app's in the
Redis hash ``<prefix>logcenter:alerts`` (app -> JSON list of rules, ``publish``). ``paas-logs``
checks every alert once a minute (``PAAS_LOG_ALERT_EVERY``): lines of the app matching the query in the last ``per`` seconds
are counted; when the count goes above ``above`` the webhook gets a JSON POST with ``"state":
"firing"``, and when it is back at or below, one with ``"state": "cleared"``. The state is kept in
``paas-logs`` only: after a restart an alert still above its threshold fires once more.
"""

import json
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from paas.contracts import redis_keys
from paas.logcenter import connect, destinations, query

log = logging.getLogger("paas.logcenter.alerts")
PER = re.compile(r"([1-9][0-9]{0,4})([mhd])\Z")
PER_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_PER_S = 86400
MAX_ABOVE = 10**9


# The hash lives with the other Redis names (paas.contracts).
alerts_key = redis_keys.log_alerts


def publish(client, prefix: str, app: str, alerts: list[dict]) -> None:
    """Make ``app``'s alerts in Redis ``alerts`` (rule dicts, ``Rule`` fields); none: the app's field goes."""
    if alerts:
        client.hset(alerts_key(prefix), app, json.dumps(alerts))
    else:
        client.hdel(alerts_key(prefix), app)


def per_seconds(text: str) -> int:
    """``--per``: ``1m`` to ``1d`` (minutes, hours, days) -> seconds."""
    match = PER.match(text) if isinstance(text, str) else None
    seconds = int(match.group(1)) * PER_SECONDS[match.group(2)] if match else 0
    if not 60 <= seconds <= MAX_PER_S:
        raise query.QueryError("per: wants a window from 1m to 1d, like 5m or 1h")
    return seconds


def check_rule(query_text, above, per: str, webhook, allowed: list) -> dict:
    """The checked fields of a new alert (what the API stores); bad ones raise QueryError or DestinationError."""
    if not isinstance(query_text, str) or not query.parse(query_text):
        raise query.QueryError("query: wants a search (words, \"phrases\", field:value)")
    if type(above) is not int or not 0 <= above <= MAX_ABOVE:
        raise query.QueryError(f"above: wants a whole number from 0 to {MAX_ABOVE}")
    seconds = per_seconds(per)
    destinations.check(webhook, allowed, destinations.WEBHOOK_SCHEMES)
    return {"query": query_text, "above": above, "per_s": seconds, "webhook": webhook}


@dataclass(frozen=True)
class Rule:
    id: int
    app: str
    name: str
    query: str
    above: int
    per_s: int
    webhooks: tuple[str, ...]   # a user's alert has one; the platform's own (services/backup_alert.py) the app's


class Alerts:
    """The published rules, their state (firing or not) and the webhook calls when it changes."""

    def __init__(self, allowed: list, ca_file: str = ""):
        self.allowed = allowed
        self.tls_context = ssl.create_default_context()
        if ca_file:
            self.tls_context.load_verify_locations(cafile=ca_file)
        self.rules: dict[int, Rule] = {}
        self.state: dict[int, dict] = {}    # id -> {"firing", "count", "checked_at", "last_error"}

    def sync(self, published: dict) -> None:
        """``published``: app -> JSON list of rules (the hash, as read)."""
        rules = {}
        for app, raw in published.items():
            app = app.decode() if isinstance(app, bytes) else app
            try:
                for item in json.loads(raw):
                    rule = Rule(id=int(item["id"]), app=app, name=str(item["name"]), query=str(item["query"]),
                                above=int(item["above"]), per_s=int(item["per_s"]), webhooks=_webhooks(item))
                    rules[rule.id] = rule
            except (ValueError, TypeError, KeyError):
                log.warning("alerts of %s: not a list of rules; ignored", app[:64])
        self.rules = rules
        self.state = {k: v for k, v in self.state.items() if k in rules}

    def check(self, count, now: datetime | None = None) -> None:
        """Count each rule's matches (``count(app, terms, since_us, until_us)``), call webhooks on a change."""
        now = now or datetime.now(timezone.utc)
        for rule in list(self.rules.values()):
            state = self.state.setdefault(rule.id, {"firing": False, "count": 0, "checked_at": "", "last_error": ""})
            try:
                terms = query.parse(rule.query)
            except query.QueryError as exc:
                state["last_error"] = str(exc)
                continue
            since = now - timedelta(seconds=rule.per_s)
            state["count"] = count(rule.app, terms, _micros(since), _micros(now))
            state["checked_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            firing = state["count"] > rule.above
            if firing != state["firing"]:
                if self._notify(rule, "firing" if firing else "cleared", state, now):
                    state["firing"] = firing

    def _notify(self, rule: Rule, kind: str, state: dict, now: datetime) -> bool:
        """The webhooks' POST; False (state unchanged: tried again next minute, every webhook: at least once)
        when one failed. A rule with no webhook only changes state (what ``paas logs:alerts`` shows)."""
        body = {"alert": rule.name, "app": rule.app, "state": kind, "query": rule.query, "count": state["count"],
                "above": rule.above, "per_seconds": rule.per_s, "at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        errors = []
        for webhook in rule.webhooks:
            try:
                dest = destinations.parse(webhook, destinations.WEBHOOK_SCHEMES)
                connect.post(dest, self.allowed, self.tls_context, json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
            except connect.FAILURES as exc:
                errors.append(f"webhook: {exc.__class__.__name__}: {exc}")
        state["last_error"] = "; ".join(errors)[:200]
        return not errors

    def status(self, app: str) -> list[dict]:
        return [{"id": r.id, "name": r.name, **self.state.get(r.id, {"firing": False, "count": 0, "checked_at": "",
                                                                      "last_error": ""})}
                for r in self.rules.values() if r.app == app]


def _webhooks(item: dict) -> tuple[str, ...]:
    """A published rule's webhooks: ``webhook`` (a user's alert) or the list ``webhooks`` (the platform's)."""
    if "webhooks" in item:
        if not isinstance(item["webhooks"], list):
            raise TypeError("webhooks: not a list")
        return tuple(str(w) for w in item["webhooks"])
    return (str(item["webhook"]),)


def _micros(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)
