"""events: the audit log."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    events = sub.add_parser("events", parents=[common],
                            help="show the audit log (yours, or one app name's with -a; admins also see destroyed apps')")
    events.add_argument("-a", "--app", help="only apps of this name (APP ID tells apps of one name apart)")
    events.add_argument("-n", "--num", type=int, default=50, help="how many (1-1000)")
    events.set_defaults(func=list_events)


def list_events(args) -> int:
    query = f"limit={args.num}" + (f"&app={quote(args.app)}" if args.app else "")
    rows = Api().get(f"events?{query}")
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            row["app_shown"] = (f"{row['app']} (destroyed)" if row.get("app_destroyed") else row["app"]) or ""
        table(rows, [("created_at", "WHEN"), ("app_shown", "APP"), ("app_id", "APP ID"), ("actor", "WHO"),
                     ("action", "ACTION"), ("message", "WHAT")])
    return 0
