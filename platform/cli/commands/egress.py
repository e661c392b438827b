"""egress, egress:deny, egress:allow."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json


def register(sub, common, app_option):
    sub.add_parser("egress", parents=[common, app_option],
                   help="show whether the app's instances may connect out").set_defaults(func=show)
    deny = sub.add_parser("egress:deny", parents=[common, app_option],
                          help="refuse every outgoing connection of the app's instances, DNS included")
    deny.set_defaults(func=change, allowed=False)
    allow = sub.add_parser("egress:allow", parents=[common, app_option],
                           help="let the app's instances connect out (the default)")
    allow.set_defaults(func=change, allowed=True)


def _print(args, state: dict) -> None:
    if args.json:
        emit_json(state)
    elif state["egress"] == "allowed":
        print(f"Egress of {args.app} is allowed: its instances may connect out")
    else:
        print(f"Egress of {args.app} is denied: its instances reach nothing outside, DNS included")


def show(args) -> int:
    _print(args, Api().get(f"apps/{quote(args.app)}/egress"))
    return 0


def change(args) -> int:
    _print(args, Api().request("PUT", f"apps/{quote(args.app)}/egress", {"allowed": args.allowed}))
    return 0
