"""Request metrics over time as line charts drawn on the server: plain SVG coordinates, no script, no other host.

Input is the Log Center's answer (logcenter/metrics.py, the same the API returns): one row per
minute, release and process type. Each (release, process type) is one line, because percentiles of
different releases cannot be merged honestly; a deploy is a vertical marker at its release's time.
The template (console/metrics.html) only places what this module computed.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime

WIDTH, HEIGHT = 640, 200            # the viewBox; the SVG scales to the card's width
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 22
COLORS = ("#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#087f8c", "#5c940d", "#e67700")
# What is charted, from each minute's row: (key in the answer, title, unit).
CHARTS = (("requests_per_s", "Requests/s", "req/s"), ("p50_ms", "p50 latency", "ms"),
          ("p95_ms", "p95 latency", "ms"), ("p99_ms", "p99 latency", "ms"), ("error_rate", "5xx rate", ""))


@dataclass
class Series:
    label: str
    color: str
    points: str          # "x,y x,y …" for <polyline points=…>
    dots: list = field(default_factory=list)    # [(x, y)]: a single minute has no line to draw


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    series: list
    ticks: list          # [(y, label)]
    markers: list        # [(x, label)]
    plot: dict           # the plot area's corners, for the axes


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def tick_label(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value / 1000:g}k"


def parse_time(text: str) -> datetime:
    """The answer's RFC 3339 times (``…Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def series_keys(minutes: list[dict]) -> list[tuple[str, str]]:
    """(release, process type) pairs in the order they first appear."""
    return list(dict.fromkeys((row["release"] or "-", row["process_type"]) for row in minutes))


def build(answer: dict, deploys: list[tuple[datetime, str]]) -> list[Chart]:
    """One chart per CHARTS entry over the answer's range, a line per release and process type, deploys marked."""
    since, until = parse_time(answer["since"]), parse_time(answer["until"])
    span = max((until - since).total_seconds(), 60.0)

    def x_of(when: datetime) -> float:
        share = min(max((when - since).total_seconds() / span, 0.0), 1.0)
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 1)

    minutes = answer.get("minutes", [])
    keys = series_keys(minutes)
    markers = [(x_of(when), label) for when, label in deploys if since <= when <= until]
    return [one_chart(key, title, unit, minutes, keys, x_of, markers) for key, title, unit in CHARTS]


def range_label(answer: dict) -> str:
    """The answer's range for people: ``2026-01-01 10:00 to 10:10 UTC`` (the date again when it changes)."""
    since, until = parse_time(answer["since"]), parse_time(answer["until"])
    end = f"{until:%H:%M}" if since.date() == until.date() else f"{until:%Y-%m-%d %H:%M}"
    return f"{since:%Y-%m-%d %H:%M} to {end} UTC"


def one_chart(key, title, unit, minutes, keys, x_of, markers) -> Chart:
    top = nice_ceiling(max((float(row[key]) for row in minutes), default=0.0))
    bottom = HEIGHT - BOTTOM

    def y_of(value: float) -> float:
        return round(bottom - (value / top) * (bottom - TOP), 1)

    series = []
    for index, (release, process_type) in enumerate(keys):
        xy = [(x_of(parse_time(row["minute"])), y_of(float(row[key]))) for row in minutes
              if (row["release"] or "-", row["process_type"]) == (release, process_type)]
        series.append(Series(label=f"{release} {process_type}", color=COLORS[index % len(COLORS)],
                             points=" ".join(f"{x},{y}" for x, y in xy), dots=xy if len(xy) == 1 else []))
    ticks = [(y_of(top * share), tick_label(top * share)) for share in (0, 0.5, 1)]
    plot = {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": bottom}
    return Chart(key=key, title=title, unit=unit, series=series, ticks=ticks, markers=markers, plot=plot)
