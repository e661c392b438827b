"""usage: instance-hours and memory-hours, per app and team."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    usage = sub.add_parser("usage", parents=[common], help="instance-hours and memory-hours (this month by default)")
    usage.add_argument("-a", "--app", help="only this app")
    usage.add_argument("--since", help="first day, YYYY-MM-DD")
    usage.add_argument("--until", help="day after the last, YYYY-MM-DD")
    usage.set_defaults(func=show_usage)


def show_usage(args) -> int:
    params = "&".join(f"{k}={quote(v)}" for k, v in (("since", args.since), ("until", args.until)) if v)
    path = f"apps/{quote(args.app)}/usage" if args.app else "usage"
    report = Api().get(f"{path}?{params}")
    if args.json:
        emit_json(report)
        return 0
    print(f"=== usage from {report['since'][:10]} to {report['until'][:16].replace('T', ' ')}")
    table(report["apps"], [("app", "APP"), ("type", "TYPE"), ("size", "SIZE"), ("instance_hours", "INSTANCE-HOURS"),
                           ("memory_gb_hours", "MEMORY GB-HOURS")], empty="No instances ran in this period")
    if report["teams"]:
        print()
        table(report["teams"], [("team", "TEAM"), ("instance_hours", "INSTANCE-HOURS"),
                                ("memory_gb_hours", "MEMORY GB-HOURS")])
    return 0
