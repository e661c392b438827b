"""drains: send every line of an app on to syslog (TCP or TLS), an HTTPS endpoint or Loki."""

from paas.logcenter import destinations
from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, table

COLUMNS = [("id", "ID"), ("url", "URL"), ("state", "STATE"), ("buffered", "BUFFERED"), ("sent", "SENT"),
           ("dropped", "DROPPED"), ("last_error", "LAST ERROR")]


def register(sub, common, app_option):
    listing = sub.add_parser("drains", parents=[common, app_option], help="the app's log drains and their state")
    listing.set_defaults(func=list_drains)
    add = sub.add_parser("drains:add", parents=[common, app_option],
                         help="drain the app's lines to syslog://, syslog+tls://, https:// or loki:// (loki+https://)")
    add.add_argument("url")
    add.set_defaults(func=add_drain)
    remove = sub.add_parser("drains:remove", parents=[common, app_option], help="stop a drain (its URL or id)")
    remove.add_argument("drain", metavar="URL_OR_ID")
    remove.set_defaults(func=remove_drain)


def list_drains(args) -> int:
    drains = Api().get(f"apps/{quote(args.app)}/drains")
    if args.json:
        emit_json(drains)
    else:
        table(drains, COLUMNS, empty=f"{args.app} has no drains")
    return 0


def add_drain(args) -> int:
    drain = Api().post(f"apps/{quote(args.app)}/drains", {"url": args.url})
    if args.json:
        emit_json(drain)
    else:
        print(f"Draining {args.app}'s lines to {drain['url']} (drain {drain['id']})")
    return 0


def remove_drain(args) -> int:
    api = Api()
    drain_id = args.drain if args.drain.isdigit() else None
    if drain_id is None:
        try:   # the list shows URLs without their password
            wanted = destinations.parse(args.drain).redacted()
        except destinations.DestinationError:
            wanted = args.drain
        found = [d for d in api.get(f"apps/{quote(args.app)}/drains") if d["url"] == wanted]
        if not found:
            raise CliError(f"{args.app} has no drain {args.drain}")
        drain_id = str(found[0]["id"])
    api.delete(f"apps/{quote(args.app)}/drains/{drain_id}")
    if args.json:
        emit_json({"removed": int(drain_id)})
    else:
        print(f"Removed drain {drain_id} of {args.app}")
    return 0
