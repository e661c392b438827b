"""hosts (admins): capacity and state of every host; cordon, uncordon, drain."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    hosts = sub.add_parser("hosts", parents=[common], help="every host: state, capacity, what runs there (admins)")
    hosts.set_defaults(func=list_hosts)
    for verb, what in (("cordon", "place no new instances on HOST; what runs there keeps running"),
                       ("uncordon", "place instances on HOST again"),
                       ("drain", "cordon HOST and move its instances elsewhere, one at a time per process type")):
        command = sub.add_parser(f"hosts:{verb}", parents=[common], help=what)
        command.add_argument("host", metavar="HOST")
        command.set_defaults(func=act, verb=verb)


def list_hosts(args) -> int:
    rows = Api().get("hosts")
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        row["memory"] = f"{row['used_memory_mb'] or 0} / {row['memory_mb']} MB"
        row["cpu"] = f"{row['used_cpus'] or 0:.2f} / {row['cpus']}"
    table(rows, [("name", "HOST"), ("state", "STATE"), ("address", "ADDRESS"), ("memory", "MEMORY"),
                 ("cpu", "CPU"), ("instances", "INSTANCES"), ("last_heartbeat", "HEARTBEAT")], empty="No hosts")
    return 0


def act(args) -> int:
    host = Api().post(f"hosts/{quote(args.host)}/{args.verb}")
    if args.json:
        emit_json(host)
    elif args.verb == "drain":
        print(f"Draining {host['name']}: {host['moving']} instance(s) moving to other hosts")
    else:
        print(f"{args.verb.capitalize()}ed {host['name']}: {host['state']}")
    return 0
