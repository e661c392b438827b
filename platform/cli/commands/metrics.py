"""metrics: request latency, rate and errors per release, from the router's lines (the Log Center)."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table

COLUMNS = [("release", "RELEASE"), ("process_type", "TYPE"), ("requests", "REQUESTS"), ("requests_per_s", "REQ/S"),
           ("p50_ms", "P50 MS"), ("p95_ms", "P95 MS"), ("p99_ms", "P99 MS"), ("error_rate", "5XX RATE")]


def register(sub, common, app_option):
    metrics = sub.add_parser("metrics", parents=[common, app_option],
                             help="p50/p95/p99 latency, requests/s and 5xx rate per release, per minute")
    metrics.add_argument("--since", default="1h", help="from this long ago (15m, 1h, 2d) or an RFC 3339 time")
    metrics.add_argument("--until", help="up to this time (same forms; default now)")
    metrics.add_argument("--release", help="only this release (v3)")
    metrics.set_defaults(func=show_metrics)


def show_metrics(args) -> int:
    params = (("since", args.since), ("until", args.until), ("release", args.release))
    report = Api().get(f"apps/{quote(args.app)}/metrics?" + "&".join(f"{k}={quote(v)}" for k, v in params if v))
    if args.json:
        emit_json(report)
        return 0
    print(f"=== {args.app} requests from {report['since'][:19].replace('T', ' ')} "
          f"to {report['until'][:19].replace('T', ' ')} UTC")
    table(report["releases"], COLUMNS, empty="No requests in this period")
    if report["minutes"]:
        print()
        table([{**m, "minute": m["minute"][11:16]} for m in report["minutes"]], [("minute", "MINUTE")] + COLUMNS)
    return 0
