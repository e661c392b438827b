"""access, access:add, access:remove: collaborators on an app."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common, app_option):
    sub.add_parser("access", parents=[common, app_option], help="list who can work on the app").set_defaults(func=list_access)
    add = sub.add_parser("access:add", parents=[common, app_option], help="give a user access to the app")
    add.add_argument("user", help="username or e-mail")
    add.set_defaults(func=add_access)
    remove = sub.add_parser("access:remove", parents=[common, app_option], help="take a user's access away")
    remove.add_argument("user", help="username or e-mail")
    remove.set_defaults(func=remove_access)


def list_access(args) -> int:
    rows = Api().get(f"apps/{quote(args.app)}/collaborators")
    if args.json:
        emit_json(rows)
    else:
        table(rows, [("user", "USER"), ("role", "ROLE")])
    return 0


def add_access(args) -> int:
    row = Api().post(f"apps/{quote(args.app)}/collaborators", {"user": args.user})
    print(f"Gave {row['user']} access to {args.app}")
    return 0


def remove_access(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/collaborators/{quote(args.user)}")
    print(f"Removed {args.user}'s access to {args.app}")
    return 0
