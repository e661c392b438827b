"""pg:info, pg:psql, redis:info, redis:cli: the add-ons an app uses, by service."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs

CLIENTS = {"postgres": 'psql "${var}"', "redis": 'redis-cli --no-auth-warning -u "${var}"'}


def register(sub, common, app_option):
    for service, prefix in (("postgres", "pg"), ("redis", "redis")):
        info = sub.add_parser(f"{prefix}:info", parents=[common, app_option],
                              help=f"the app's {service} add-ons: version, size, connections")
        info.add_argument("name", nargs="?", help="one add-on (default: every one)")
        info.set_defaults(func=show_info, service=service)
        client = "psql" if service == "postgres" else "cli"
        shell = sub.add_parser(f"{prefix}:{client}", parents=[common, app_option],
                               help=f"a one-off of the app with {'psql' if client == 'psql' else 'redis-cli'} "
                                    "attached to its database")
        shell.add_argument("name", nargs="?", help="the add-on or its config var (default: the only one)")
        shell.set_defaults(func=open_client, service=service)
    rotation = sub.add_parser("pg:credentials:rotate", parents=[common, app_option],
                              help="new credentials, rolled out; the old ones revoked once the rollout is live")
    rotation.add_argument("name", nargs="?", help="the add-on or its config var (default: DATABASE)")
    rotation.add_argument("--confirm", metavar="APP")
    rotation.set_defaults(func=rotate)


def rotate(args) -> int:
    if args.confirm != args.app:
        raise CliError(f"every app using the database gets a new URL (a release each): confirm with "
                       f"--confirm {args.app}")
    body = {"addon": args.name} if args.name else {}
    result = Api().post(f"apps/{quote(args.app)}/pg/credentials/rotate", body)
    if args.json:
        emit_json(result)
    else:
        print(f"Rotated the credentials of {result['addon']}: new releases of {', '.join(result['attachments'])} "
              "roll out; the old credentials are revoked once they are live")
    return 0


def attached(api: Api, app: str, service: str, name: str | None) -> list[tuple[dict, str]]:
    """(add-on, the app's config var for it) of the app's add-ons of `service`; a clear error if none."""
    found = []
    for addon in api.get(f"apps/{quote(app)}/addons"):
        if addon["service"] != service:
            continue
        for attachment in addon["attachments"]:
            if attachment["app"] == app and (name in (None, addon["name"], attachment["config_var"],
                                                      attachment["name"])):
                found.append((addon, attachment["config_var"]))
    if not found:
        what = f"no {service} add-on {name!r}" if name else f"no {service} add-on"
        raise CliError(f"{app} has {what}: create one with paas addons:create {service} -a {app}")
    return found


def show_info(args) -> int:
    api = Api()
    rows = [{"config_var": var, **api.get(f"addons/{quote(addon['name'])}/stats")}
            for addon, var in attached(api, args.app, args.service, args.name)]
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        print(f"=== {row.pop('name')} ({row.pop('config_var')})")
        pairs(row)
    return 0


def open_client(args) -> int:
    from paas.platform.cli.commands import run

    api = Api()
    choices = attached(api, args.app, args.service, args.name)
    if len(choices) > 1:
        names = ", ".join(var for _, var in choices)
        raise CliError(f"{args.app} has several {args.service} add-ons ({names}): name one")
    command = CLIENTS[args.service].replace("{var}", choices[0][1])
    args.command, args.detach, args.size, args.timeout = [command], False, "small", None
    args.no_tty = getattr(args, "no_tty", False)
    return run.run_command(args)
