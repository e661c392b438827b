"""Request metrics per release, from the router's lines: what ``paas metrics`` shows.

Per minute, per release and process type: requests, requests/s, p50/p95/p99 latency, 5xx count and
rate. Computed by the store when asked (router lines are already stored with status and duration),
so nothing is kept twice and every past minute can be asked for.

The process type comes from the instance name the router line carries: the control plane names
instances ``<app>-v<N>-<type>-<n>-<hex>`` (platform/control/deploys.py); a line without one
(no instance was reached: H14, H19, H21) counts under ``-``.
"""

from datetime import datetime, timedelta, timezone

from paas.logcenter import schema
from paas.logcenter.query import QueryError

MAX_RANGE = timedelta(days=7)     # of minutes in one answer: 10,080 per release and process type

# After "<app>-": the release, then the type (platform/names.py: [a-z][a-z0-9_-]{0,29}), then "-<n>-<hex>".
_TYPE_AFTER_APP = r"^v[0-9]+-([a-z][a-z0-9_-]{0,29})-[0-9]+-[0-9a-f]+$"
PROCESS_TYPE_SQL = (f"if(startsWith(instance, concat(app, '-')), "
                    f"extract(substring(instance, length(app) + 2), '{_TYPE_AFTER_APP}'), '')")


def release_filter(release: str | None) -> str | None:
    """``--release``: ``v3`` (schema.release_label's spelling) or nothing; anything else is refused."""
    if release in (None, ""):
        return None
    if not isinstance(release, str) or schema.release_version(release) is None:
        raise QueryError("release: wants a release like v3")
    return release


def metrics_sql(app: str, since_us: int, until_us: int, release: str | None, per_minute: bool) -> tuple[str, dict]:
    """The SELECT of one app's figures per (minute,) release and process type, oldest first."""
    params = {"app": app, "since": since_us, "until": until_us}
    conditions = ["app = {app:String}", "source = 'router'",
                  "time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')",
                  "time <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')"]
    if release is not None:
        params["release"] = release
        conditions.append("release = {release:String}")
    keys = ("minute, " if per_minute else "") + "release, process_type"
    sql = ("SELECT " + ("toUnixTimestamp(toStartOfMinute(time)) AS minute, " if per_minute else "")
           + f"release, if(({PROCESS_TYPE_SQL}) = '', '-', {PROCESS_TYPE_SQL}) AS process_type, "
           "count() AS requests, quantilesExact(0.5, 0.95, 0.99)(duration_ms) AS latency, "
           f"countIf(status >= 500) AS errors FROM logcenter.lines WHERE {' AND '.join(conditions)} "
           f"GROUP BY {keys} ORDER BY {keys}")
    return sql, params


def figures(row: dict, seconds: float) -> dict:
    """One answer row: requests, requests/s over ``seconds``, p50/p95/p99 in ms, 5xx count and rate."""
    p50, p95, p99 = (round(float(v), 1) for v in row["latency"])
    requests, errors = int(row["requests"]), int(row["errors"])
    out = {"release": row["release"], "process_type": row["process_type"], "requests": requests,
           "requests_per_s": round(requests / seconds, 3) if seconds > 0 else 0.0, "p50_ms": p50, "p95_ms": p95,
           "p99_ms": p99, "errors_5xx": errors, "error_rate": round(errors / requests, 4) if requests else 0.0}
    if "minute" in row:
        out = {"minute": datetime.fromtimestamp(int(row["minute"]), timezone.utc).strftime("%Y-%m-%dT%H:%M:00Z"),
               **out}
    return out
