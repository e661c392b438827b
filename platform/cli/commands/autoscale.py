"""autoscale, autoscale:set, autoscale:off."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common, app_option):
    sub.add_parser("autoscale", parents=[common, app_option], help="show autoscaling").set_defaults(func=show)
    set_parser = sub.add_parser("autoscale:set", parents=[common, app_option],
                                help="scale a process type on request rate and/or latency")
    set_parser.add_argument("type", help="process type, e.g. web")
    set_parser.add_argument("--min", type=int, required=True, help="fewest instances (0: idle web apps sleep)")
    set_parser.add_argument("--max", type=int, required=True, help="most instances")
    set_parser.add_argument("--target-rps", type=float, help="requests per second per instance")
    set_parser.add_argument("--p95-ms", type=int, help="target p95 latency in milliseconds")
    set_parser.set_defaults(func=set_scaler)
    off = sub.add_parser("autoscale:off", parents=[common, app_option], help="stop autoscaling a process type")
    off.add_argument("type")
    off.set_defaults(func=turn_off)


def show(args) -> int:
    rows = Api().get(f"apps/{quote(args.app)}/autoscale")
    if args.json:
        emit_json(rows)
    else:
        table(rows, [("type", "TYPE"), ("min", "MIN"), ("max", "MAX"), ("target_rps", "RPS/INSTANCE"),
                     ("target_p95_ms", "P95 MS"), ("last_scaled_at", "LAST SCALED")], empty="No autoscaling")
    return 0


def set_scaler(args) -> int:
    body = {"min": args.min, "max": args.max, "target_rps": args.target_rps, "target_p95_ms": args.p95_ms}
    row = Api().request("PUT", f"apps/{quote(args.app)}/autoscale/{quote(args.type)}", body)
    if args.json:
        emit_json(row)
    else:
        print(f"Autoscaling {args.type} of {args.app} between {row['min']} and {row['max']}")
    return 0


def turn_off(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/autoscale/{quote(args.type)}")
    print(f"Autoscaling of {args.type} is off for {args.app}")
    return 0
