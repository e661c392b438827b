"""ps and ps:scale."""

import re
from datetime import datetime, timezone

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, table

SCALE_ARG = re.compile(r"([^=]+)=([+-]?\d+)?(?::(.+))?\Z")


def register(sub, common, app_option):
    sub.add_parser("ps", parents=[common, app_option], help="show formation and instances").set_defaults(func=ps)
    scale = sub.add_parser("ps:scale", parents=[common, app_option],
                           help="scale process types: web=2 worker=1:medium, or by web=+1")
    scale.add_argument("changes", nargs="+", metavar="TYPE=[+-]N[:SIZE]")
    scale.set_defaults(func=ps_scale)
    for verb, text in (("restart", "restart instances one at a time"), ("stop", "stop instances, keeping the scale"),
                       ("start", "start what ps:stop stopped")):
        command = sub.add_parser(f"ps:{verb}", parents=[common, app_option], help=text)
        command.add_argument("type", nargs="?", help="process type (default: all)")
        command.set_defaults(func=ps_action, verb=verb)


def parse_scale(items: list[str]) -> dict:
    changes = {}
    for item in items:
        match = SCALE_ARG.match(item)
        if not match or (match.group(2) is None and match.group(3) is None):
            raise CliError(f"{item!r} is not TYPE=N, TYPE=+N, TYPE=-N, TYPE=N:SIZE or TYPE=:SIZE")
        spec = {}
        number = match.group(2)
        if number is not None:
            # A sign makes it relative: the platform adds it to the count under the app's lock.
            spec["change" if number[0] in "+-" else "quantity"] = int(number)
        if match.group(3):
            spec["size"] = match.group(3)
        changes[match.group(1)] = spec
    return changes


def ps(args) -> int:
    api = Api()
    formation = api.get(f"apps/{quote(args.app)}/formation")
    instances = api.get(f"apps/{quote(args.app)}/instances")
    if args.json:
        emit_json({"formation": formation, "instances": instances})
        return 0
    print(f"=== {args.app} formation")
    table(formation, [("type", "TYPE"), ("quantity", "QTY"), ("size", "SIZE"), ("stopped", "STOPPED")],
          empty="No process types yet: push code with git push paas main")
    print()
    print(f"=== {args.app} instances")
    for row in instances:
        row["note"] = row.get("unplaced_reason") or ""
        row["v"] = f"v{row['release']}"
        row["uptime"] = uptime(row.get("started_at")) if row["state"] == "up" else ""
        row["mem"] = f"{row['memory_bytes'] / 2**20:.0f} MB" if row.get("memory_bytes") is not None else ""
        row["cpu"] = f"{row['cpu_seconds']:.1f} s" if row.get("cpu_seconds") is not None else ""
    table(instances, [("process", "PROCESS"), ("v", "RELEASE"), ("size", "SIZE"), ("state", "STATE"),
                      ("host", "HOST"), ("uptime", "UPTIME"), ("restarts", "RESTARTS"), ("mem", "MEMORY"),
                      ("cpu", "CPU"), ("note", "NOTE")], empty="No instances running")
    return 0


def uptime(started_at: str | None) -> str:
    """2h 5m, 3m 12s: how long an instance has been up, for people."""
    if not started_at:
        return ""
    seconds = int((datetime.now(timezone.utc) - datetime.fromisoformat(started_at)).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def ps_scale(args) -> int:
    formation = Api().patch(f"apps/{quote(args.app)}/formation", parse_scale(args.changes))
    if args.json:
        emit_json(formation)
    else:
        described = ", ".join(f"{f['type']}={f['quantity']}:{f['size']}" for f in formation)
        print(f"Scaled {args.app} to {described}")
    return 0


PAST = {"restart": "Restarting", "stop": "Stopped", "start": "Started"}


def ps_action(args) -> int:
    body = {"type": args.type} if args.type else {}
    formation = Api().post(f"apps/{quote(args.app)}/ps/{args.verb}", body)
    if args.json:
        emit_json(formation)
    else:
        print(f"{PAST[args.verb]} {args.type or 'all processes'} of {args.app}")
    return 0
