"""https (show), https:redirect on|off, https:hsts --max-age N | --off: an app's HTTPS policy."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, pairs


def register(sub, common, app_option):
    sub.add_parser("https", parents=[common, app_option],
                   help="show the app's HTTPS redirect and HSTS").set_defaults(func=show)
    redirect = sub.add_parser("https:redirect", parents=[common, app_option],
                              help="redirect plain HTTP to HTTPS (301 for GET/HEAD, 308 for others), or stop")
    redirect.add_argument("state", choices=["on", "off"])
    redirect.set_defaults(func=set_redirect)
    hsts = sub.add_parser("https:hsts", parents=[common, app_option],
                          help="send Strict-Transport-Security over HTTPS with this max-age, or --off")
    which = hsts.add_mutually_exclusive_group(required=True)
    which.add_argument("--max-age", type=int, metavar="SECONDS", help="e.g. 31536000 (a year); at most two years")
    which.add_argument("--off", action="store_true", help="send no HSTS header")
    hsts.set_defaults(func=set_hsts)


def _print(policy: dict, args) -> int:
    if args.json:
        emit_json(policy)
        return 0
    hsts = "off" if policy["hsts_max_age"] is None else f"max-age={policy['hsts_max_age']}"
    pairs({"App": policy["app"], "Redirect": "on" if policy["redirect"] else "off", "HSTS": hsts})
    return 0


def show(args) -> int:
    return _print(Api().get(f"apps/{quote(args.app)}/https"), args)


def set_redirect(args) -> int:
    return _print(Api().request("PUT", f"apps/{quote(args.app)}/https", {"redirect": args.state == "on"}), args)


def set_hsts(args) -> int:
    max_age = None if args.off else args.max_age
    return _print(Api().request("PUT", f"apps/{quote(args.app)}/https", {"hsts_max_age": max_age}), args)
