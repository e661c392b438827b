"""How long each app's lines are kept: the app's own number of days or ``PAAS_LOG_RETENTION_DAYS``,
never more than ``PAAS_LOG_RETENTION_MAX_DAYS`` (the platform's disk is finite).

Who set what is the platform's (Postgres, platform/models/log_retention.py); the API publishes each
app's own setting in the Redis hash ``<prefix>logcenter:retention`` (app -> days, ``publish``) and
``paas-logs`` reads it every few seconds (``parse``). The store keeps it per line (``keep_days``,
set at ingest; the engine's TTL removes lines past it: logcenter/store.py).
"""

from paas.contracts import redis_keys

retention_key = redis_keys.log_retention


class RetentionError(ValueError):
    """A number of days the platform does not accept; the message says which it does."""


def check_days(value, maximum: int) -> int:
    """``value`` as a number of days from 1 to ``maximum``, or a RetentionError naming the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise RetentionError(f"days: wants a whole number from 1 to {maximum} (the platform's maximum)")
    return value


def effective(own: int | None, default: int, maximum: int) -> int:
    """The days an app's lines are kept: its own setting or the default, at most the maximum."""
    return min(own or default, maximum)


def publish(client, prefix: str, app: str, rows: list[int]) -> None:
    """Make ``app``'s own retention in Redis ``rows`` ([days], or [] for the default: the field goes)."""
    if rows:
        client.hset(retention_key(prefix), app, str(rows[0]))
    else:
        client.hdel(retention_key(prefix), app)


def parse(published: dict, maximum: int) -> dict[str, int]:
    """The published hash as app -> days; values that are not 1 to ``maximum`` days are left out (the default holds)."""
    out = {}
    for app, raw in published.items():
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        if text.isascii() and text.isdigit() and 1 <= int(text) <= maximum:
            out[app.decode("utf-8", "replace") if isinstance(app, bytes) else str(app)] = int(text)
    return out
