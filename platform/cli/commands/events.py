"""events: the audit log."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    events = sub.add_parser("events", parents=[common], help="show the audit log (yours, or one app's with -a)")
    events.add_argument("-a", "--app", help="only this app")
    events.add_argument("-n", "--num", type=int, default=50, help="how many (1-1000)")
    events.set_defaults(func=list_events)


def list_events(args) -> int:
    path = f"apps/{quote(args.app)}/events" if args.app else "events"
    rows = Api().get(f"{path}?limit={args.num}")
    if args.json:
        emit_json(rows)
    else:
        table(rows, [("created_at", "WHEN"), ("app", "APP"), ("actor", "WHO"), ("action", "ACTION"), ("message", "WHAT")])
    return 0
