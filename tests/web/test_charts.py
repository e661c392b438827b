"""Plain tests of how the Log Center's metrics answer becomes chart coordinates (web/charts.py)."""

from datetime import datetime, timezone

import pytest

from paas.web import charts


def minute(at: str, release: str, p95: float, requests: int = 60, errors: int = 0, process_type: str = "web"):
    return {"minute": at, "release": release, "process_type": process_type, "requests": requests,
            "requests_per_s": requests / 60, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 2,
            "errors_5xx": errors, "error_rate": errors / requests if requests else 0.0}


ANSWER = {"since": "2026-01-01T10:00:00Z", "until": "2026-01-01T10:10:00Z", "releases": [],
          "minutes": [minute("2026-01-01T10:00:00Z", "v1", 40.0), minute("2026-01-01T10:05:00Z", "v1", 80.0),
                      minute("2026-01-01T10:05:00Z", "v2", 20.0, errors=6)]}


@pytest.mark.parametrize("value, ceiling", [(0, 1), (0.03, 0.05), (1, 1), (1.2, 2), (3, 5), (80, 100), (101, 200),
                                            (float("nan"), 1)])
def test_the_scale_ends_at_a_round_number(value, ceiling):
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)


def test_a_line_per_release_and_process_type_placed_in_time():
    by_key = {c.key: c for c in charts.build(ANSWER, [])}
    assert [c.key for c in by_key.values()] == [key for key, _, _ in charts.CHARTS]
    p95 = by_key["p95_ms"]
    assert [s.label for s in p95.series] == ["v1 web", "v2 web"]
    # v1: the first minute at the left edge, the fifth halfway; 80 ms is the top of a 0..100 scale.
    left, right = charts.LEFT, charts.WIDTH - charts.RIGHT
    first, second = [tuple(map(float, p.split(","))) for p in p95.series[0].points.split()]
    assert first[0] == left and second[0] == pytest.approx((left + right) / 2, abs=0.1)
    assert second[1] < first[1]                       # more latency is higher up
    assert p95.ticks[-1][1] == "100"
    assert p95.series[1].dots and not p95.series[0].dots   # one minute: a dot, not a line
    assert by_key["error_rate"].ticks[-1][1] == "0.1"


def test_deploys_are_marked_only_within_the_range():
    inside = datetime(2026, 1, 1, 10, 5, tzinfo=timezone.utc)
    before = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    chart = charts.build(ANSWER, [(inside, "v2"), (before, "v1")])[0]
    assert [label for _, label in chart.markers] == ["v2"]


def test_no_requests_is_an_empty_chart_not_an_error():
    chart = charts.build({**ANSWER, "minutes": []}, [])[0]
    assert chart.series == [] and chart.ticks[-1][1] == "1"


def test_the_range_reads_as_times():
    assert charts.range_label(ANSWER) == "2026-01-01 10:00 to 10:10 UTC"
    assert charts.range_label({**ANSWER, "until": "2026-01-02T01:00:00Z"}) == "2026-01-01 10:00 to 2026-01-02 01:00 UTC"
