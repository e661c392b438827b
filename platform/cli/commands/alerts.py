"""logs:alerts: saved searches checked every minute, with a webhook called when a threshold is crossed and cleared."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table

COLUMNS = [("name", "NAME"), ("query", "QUERY"), ("above", "ABOVE"), ("per", "PER"), ("state", "STATE"),
           ("count", "LAST COUNT"), ("webhook", "WEBHOOK"), ("last_error", "LAST ERROR")]


def register(sub, common, app_option):
    listing = sub.add_parser("logs:alerts", parents=[common, app_option], help="the app's log alerts and their state")
    listing.set_defaults(func=list_alerts)
    add = sub.add_parser("logs:alerts:add", parents=[common, app_option],
                         help="call a webhook when more than N lines match QUERY within a window")
    add.add_argument("name")
    add.add_argument("query", help='a log search: words, "phrases", -word, field:value, status:>=500')
    add.add_argument("--above", type=int, required=True, metavar="N", help="fire when more than N lines match")
    add.add_argument("--per", default="5m", help="the window counted, 1m to 1d (default 5m)")
    add.add_argument("--webhook", required=True, metavar="URL", help="gets a JSON POST when firing and when cleared")
    add.set_defaults(func=add_alert)
    remove = sub.add_parser("logs:alerts:remove", parents=[common, app_option], help="remove a log alert")
    remove.add_argument("name")
    remove.set_defaults(func=remove_alert)


def _state(alert: dict) -> str:
    if alert["firing"] is None:
        return "unknown"
    return "FIRING" if alert["firing"] else ("ok" if alert["checked_at"] else "not checked yet")


def list_alerts(args) -> int:
    alerts = Api().get(f"apps/{quote(args.app)}/log-alerts")
    if args.json:
        emit_json(alerts)
        return 0
    table([{**a, "per": f"{a['per_seconds'] // 60}m", "state": _state(a)} for a in alerts], COLUMNS,
          empty=f"{args.app} has no log alerts")
    return 0


def add_alert(args) -> int:
    alert = Api().post(f"apps/{quote(args.app)}/log-alerts", {"name": args.name, "query": args.query,
                                                               "above": args.above, "per": args.per,
                                                               "webhook": args.webhook})
    if args.json:
        emit_json(alert)
    else:
        print(f"Alert {alert['name']}: more than {alert['above']} lines matching {alert['query']!r} "
              f"in {alert['per_seconds'] // 60}m calls {alert['webhook']}; checked every minute")
    return 0


def remove_alert(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/log-alerts/{quote(args.name)}")
    if args.json:
        emit_json({"removed": args.name})
    else:
        print(f"Removed alert {args.name} of {args.app}")
    return 0
