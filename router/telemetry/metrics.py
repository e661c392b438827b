"""Request counters and latency histograms, per app and per release.

Each worker keeps its own ``Metrics``; the supervisor merges the workers' states
(``merge``) for the Prometheus page and the Redis snapshot the autoscaler reads.
Latency buckets grow by 1.5x from 0.25 ms, so a percentile read from them is
within 25% of the true value across six orders of magnitude.
"""

import bisect

BOUNDS_MS = []
_b = 0.25
while _b < 120_000:
    BOUNDS_MS.append(round(_b, 4))
    _b *= 1.5
_CLASSES = [f"{n}xx" for n in range(10)]
SLOT_SECONDS = 5
WINDOW_SECONDS = 60


def _new_buckets() -> list[int]:
    return [0] * (len(BOUNDS_MS) + 1)   # the last one is +Inf


class Metrics:
    def __init__(self):
        # (app, release) -> {"codes": {"2xx": n}, "buckets": [...], "sum": ms, "count": n}
        self.series: dict[tuple[str, int], dict] = {}
        # (app, release) -> {slot: [count, errors, buckets]}
        self.window: dict[tuple[str, int], dict[int, list]] = {}
        # (app, release) -> (the slot's first second, the next slot's, its series, its current window
        # entry, and the series' codes and buckets and the entry's buckets): one lookup per request
        # while the 5 s slot lasts.
        self._current: dict[tuple[str, int], tuple] = {}

    def record(self, app: str, release: int, status: int, duration_ms: float, now: float) -> None:
        key = (app, release)
        cur = self._current.get(key)
        # Inside the current slot's seconds: no slot number to work out (int() of a float costs more
        # than the rest of this check).
        if cur is None or not cur[0] <= now < cur[1]:
            cur = self._roll(key, int(now) // SLOT_SECONDS)   # int first: a float floor division costs an fmod
        _, _, s, w, codes, buckets, w_buckets = cur
        code = _CLASSES[status // 100] if 0 <= status < 1000 else f"{status // 100}xx"
        codes[code] = codes.get(code, 0) + 1
        i = bisect.bisect_left(BOUNDS_MS, duration_ms)
        buckets[i] += 1
        s["sum"] += duration_ms
        s["count"] += 1
        w[0] += 1
        if status >= 500:
            w[1] += 1
        w_buckets[i] += 1

    def _roll(self, key: tuple, slot: int) -> tuple:
        """A new 5 s slot for ``key`` (or its first request): expire old slots."""
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = {"codes": {}, "buckets": _new_buckets(), "sum": 0.0, "count": 0}
        slots = self.window.get(key)
        if slots is None:
            slots = self.window[key] = {}
        w = slots.get(slot)
        if w is None:
            w = slots[slot] = [0, 0, _new_buckets()]
            for old in [k for k in slots if k <= slot - WINDOW_SECONDS // SLOT_SECONDS]:
                del slots[old]
        # The lists and dicts each request updates, at hand (a dict lookup fewer each, per request).
        start = slot * SLOT_SECONDS
        cur = self._current[key] = (start, start + SLOT_SECONDS, s, w, s["codes"], s["buckets"], w[2])
        return cur

    def state(self) -> dict:
        """A JSON-able copy: what a worker hands to the supervisor."""
        return {
            "series": [{"app": a, "release": r, **s} for (a, r), s in self.series.items()],
            "window": [{"app": a, "release": r, "slots": {str(k): v for k, v in slots.items()}}
                       for (a, r), slots in self.window.items()],
        }


def merge(states: list[dict]) -> Metrics:
    """Sum several workers' states into one Metrics."""
    m = Metrics()
    for st in states:
        for s in st.get("series", []):
            key = (s["app"], s["release"])
            t = m.series.setdefault(key, {"codes": {}, "buckets": _new_buckets(), "sum": 0.0, "count": 0})
            for code, n in s["codes"].items():
                t["codes"][code] = t["codes"].get(code, 0) + n
            t["buckets"] = [x + y for x, y in zip(t["buckets"], s["buckets"])]
            t["sum"] += s["sum"]
            t["count"] += s["count"]
        for w in st.get("window", []):
            slots = m.window.setdefault((w["app"], w["release"]), {})
            for k, (count, errs, buckets) in w["slots"].items():
                cur = slots.setdefault(int(k), [0, 0, _new_buckets()])
                cur[0] += count
                cur[1] += errs
                cur[2] = [x + y for x, y in zip(cur[2], buckets)]
    return m


def percentile(buckets: list[int], q: float) -> float:
    """The q-quantile in ms, interpolated inside its bucket (0 with no data)."""
    total = sum(buckets)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            lo = BOUNDS_MS[i - 1] if i > 0 else 0.0
            hi = BOUNDS_MS[i] if i < len(BOUNDS_MS) else BOUNDS_MS[-1]
            return round(lo + (hi - lo) * (rank - seen) / n, 3)
        seen += n
    return BOUNDS_MS[-1]


def summarize(m: Metrics, now: float) -> dict[str, dict]:
    """Per app over the last minute: rps, error count, p50/p95/p99, and per release."""
    first = int(now // SLOT_SECONDS) - WINDOW_SECONDS // SLOT_SECONDS + 1
    apps: dict[str, dict] = {}
    for (app, release), slots in m.window.items():
        count, errs, buckets = 0, 0, _new_buckets()
        for k, (c, e, b) in slots.items():
            if k >= first:
                count += c
                errs += e
                buckets = [x + y for x, y in zip(buckets, b)]
        a = apps.setdefault(app, {"requests": 0, "errors": 0, "buckets": _new_buckets(), "releases": {}})
        a["requests"] += count
        a["errors"] += errs
        a["buckets"] = [x + y for x, y in zip(a["buckets"], buckets)]
        a["releases"][release] = _figures(count, errs, buckets)
    return {app: {**_figures(a["requests"], a["errors"], a["buckets"]), "releases": a["releases"]}
            for app, a in apps.items()}


def _figures(count: int, errs: int, buckets: list[int]) -> dict:
    return {"requests": count, "errors": errs, "rps": round(count / WINDOW_SECONDS, 3),
            "p50_ms": percentile(buckets, 0.50), "p95_ms": percentile(buckets, 0.95),
            "p99_ms": percentile(buckets, 0.99)}


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(m: Metrics, now: float) -> str:
    """Prometheus text exposition (format 0.0.4)."""
    out = ["# HELP paas_router_requests_total Requests served, by app, release and status class.",
           "# TYPE paas_router_requests_total counter"]
    for (app, rel), s in sorted(m.series.items()):
        for code, n in sorted(s["codes"].items()):
            out.append(f'paas_router_requests_total{{app="{_label(app)}",release="{rel}",code="{code}"}} {n}')
    out += ["# HELP paas_router_request_duration_seconds Request duration, first byte in to last byte out.",
            "# TYPE paas_router_request_duration_seconds histogram"]
    for (app, rel), s in sorted(m.series.items()):
        labels = f'app="{_label(app)}",release="{rel}"'
        running = 0
        for bound, n in zip(BOUNDS_MS + [None], s["buckets"]):
            running += n
            le = "+Inf" if bound is None else repr(bound / 1000)
            out.append(f'paas_router_request_duration_seconds_bucket{{{labels},le="{le}"}} {running}')
        out.append(f"paas_router_request_duration_seconds_sum{{{labels}}} {s['sum'] / 1000:.6f}")
        out.append(f"paas_router_request_duration_seconds_count{{{labels}}} {s['count']}")
    out += ["# HELP paas_router_rps Requests per second over the last minute.",
            "# TYPE paas_router_rps gauge",
            "# HELP paas_router_latency_ms Latency quantiles over the last minute, in ms.",
            "# TYPE paas_router_latency_ms gauge"]
    for app, fig in sorted(summarize(m, now).items()):
        for rel, r in sorted(fig["releases"].items()):
            labels = f'app="{_label(app)}",release="{rel}"'
            out.append(f"paas_router_rps{{{labels}}} {r['rps']}")
            for q in ("p50", "p95", "p99"):
                out.append(f'paas_router_latency_ms{{{labels},quantile="{q}"}} {r[q + "_ms"]}')
    return "\n".join(out) + "\n"
