"""Request metrics per release, from router lines stored in a real store (chdb)."""

from datetime import datetime, timedelta, timezone

import pytest

from paas.logcenter import metrics, schema
from paas.logcenter.query import QueryError


def router_line(at: datetime, app: str, release: str, instance: str, status: int, duration: float) -> schema.Record:
    line = (f'at=info method=GET path="/" host={app}.localhost request_id=r fwd="10.0.0.1" instance={instance} '
            f"duration={duration}ms status={status} bytes=5")
    fields = {k.encode(): v.encode() for k, v in schema.entry(app=app, source="router", line=line, release=release,
                                                              process="router", ts=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).items()}
    return schema.Record(**dict(zip(schema.ROW, schema.row(fields, at))))


def test_percentiles_rates_and_errors_per_release_process_and_minute(service):
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
    records = []
    for i in range(100):     # v1: 1..100 ms, every tenth a 500, all in one minute
        records.append(router_line(minute + timedelta(seconds=i * 0.5), "shop", "v1", "shop-v1-web-1-a1b2c3",
                                   500 if i % 10 == 0 else 200, float(i + 1)))
    for i in range(20):      # v2 the next minute: 20 fast requests, served by web.2
        records.append(router_line(minute + timedelta(seconds=60 + i), "shop", "v2", "shop-v2-web-2-0f0f0f", 200, 3.0))
    records.append(router_line(minute + timedelta(seconds=70), "shop", "v2", "-", 503, 0.0))   # H14: no instance
    records.append(router_line(minute, "other", "v1", "other-v1-web-1-aaaaaa", 200, 9999.0))   # another app
    service.store.insert(records, [f"{i}-0" for i in range(len(records))])
    answer = service.metrics({"app": "shop", "since": "1h"})
    totals = {(r["release"], r["process_type"]): r for r in answer["releases"]}
    assert set(totals) == {("v1", "web"), ("v2", "web"), ("v2", "-")}
    v1 = totals[("v1", "web")]
    assert v1["requests"] == 100 and v1["errors_5xx"] == 10 and v1["error_rate"] == 0.1
    assert v1["p50_ms"] == pytest.approx(50.5, abs=1) and v1["p95_ms"] == pytest.approx(95, abs=1)
    assert v1["p99_ms"] == pytest.approx(99, abs=1)
    assert totals[("v2", "-")]["errors_5xx"] == 1
    per_minute = [(m["minute"], m["release"], m["process_type"], m["requests"]) for m in answer["minutes"]]
    first = minute.strftime("%Y-%m-%dT%H:%M:00Z")
    second = (minute + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:00Z")
    assert per_minute == [(first, "v1", "web", 100), (second, "v2", "-", 1), (second, "v2", "web", 20)]
    assert answer["minutes"][0]["requests_per_s"] == pytest.approx(100 / 60, abs=0.01)
    only_v2 = service.metrics({"app": "shop", "since": "1h", "release": "v2"})
    assert {r["release"] for r in only_v2["releases"]} == {"v2"}
    empty = service.metrics({"app": "nothing-here", "since": "1h"})
    assert empty["releases"] == [] and empty["minutes"] == []


@pytest.mark.parametrize("request_, problem", [
    ({"app": "a", "release": "3"}, "release: wants a release like v3"),
    ({"app": "a", "release": "v0"}, "release: wants"),
    ({"app": "a", "release": "v1'; DROP TABLE x"}, "release: wants"),
    ({"app": "a", "since": "30d"}, "at most 7 days"),
    ({"app": "a", "since": "10m", "until": "1h"}, "since is after until"),
    ({"app": "a", "since": "soon"}, "since: wants"),
])
def test_bad_metrics_requests_name_the_problem(service, request_, problem):
    answer = service.handle({"op": "metrics", **request_})
    assert problem in answer["error"]


def test_release_filter():
    assert metrics.release_filter("v12") == "v12" and metrics.release_filter(None) is None
    with pytest.raises(QueryError):
        metrics.release_filter("latest")
