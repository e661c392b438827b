"""registry, registry:login, registry:logout: an app's logins for the image registries it pulls from."""

import sys

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, table

MAX_STDIN = 16 << 10


def register(sub, common, app_option):
    sub.add_parser("registry", parents=[common, app_option],
                   help="list the app's registry logins (never their passwords)").set_defaults(func=list_logins)
    login = sub.add_parser("registry:login", parents=[common, app_option],
                           help="log the app in to a registry: the username, then the password or token, on stdin")
    login.add_argument("registry", help="host[:port], as image references name it")
    login.set_defaults(func=log_in)
    logout = sub.add_parser("registry:logout", parents=[common, app_option], help="forget the app's login")
    logout.add_argument("registry")
    logout.set_defaults(func=log_out)


def read_credentials(stream) -> tuple[str, str]:
    """Two lines from stdin (never arguments: those show in ps and shell history): username, then secret."""
    text = stream.read(MAX_STDIN + 1)
    if len(text) > MAX_STDIN:
        raise CliError("stdin holds more than a username and a password")
    lines = text.splitlines()
    if len(lines) < 2 or not lines[0].strip() or not lines[1]:
        raise CliError("give the username on the first line of stdin and the password or token on the second, "
                       "e.g. printf '%s\\n%s\\n' USER \"$TOKEN\" | paas registry:login REGISTRY")
    return lines[0].strip(), lines[1]


def log_in(args) -> int:
    if sys.stdin.isatty():
        print(f"Username and password for {args.registry} (two lines):", file=sys.stderr)
    username, secret = read_credentials(sys.stdin)
    login = Api().post(f"apps/{quote(args.app)}/registry-logins",
                       {"registry": args.registry, "username": username, "password": secret})
    if args.json:
        emit_json(login)
    else:
        print(f"Logged {args.app} in to {login['registry']} as {login['username']}")
    return 0


def list_logins(args) -> int:
    logins = Api().get(f"apps/{quote(args.app)}/registry-logins")
    if args.json:
        emit_json(logins)
    else:
        table(logins, [("registry", "Registry"), ("username", "Username"), ("updated_at", "Updated")],
              empty=f"{args.app} has no registry logins")
    return 0


def log_out(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/registry-logins/{quote(args.registry)}")
    print(f"Logged {args.app} out of {args.registry}")
    return 0
