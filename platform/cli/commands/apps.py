"""apps, apps:create, apps:info, apps:destroy."""

import secrets

from paas.platform.cli import gitremote
from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs, table

ADJECTIVES = ["amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hidden", "icy", "jolly", "lucky", "misty"]
NOUNS = ["badger", "comet", "delta", "falcon", "glacier", "harbor", "island", "lagoon", "meadow", "nebula", "otter"]


def register(sub, common, app_option):
    sub.add_parser("apps", parents=[common], help="list your apps").set_defaults(func=list_apps)
    create = sub.add_parser("apps:create", parents=[common], help="create an app (and a 'paas' git remote here)")
    create.add_argument("name", nargs="?", help="app name (a random one when omitted)")
    create.add_argument("--team", help="create the app in this team")
    create.add_argument("--stack", help="stack to build and run on")
    create.add_argument("--no-remote", action="store_true", help="do not add a git remote")
    create.set_defaults(func=create_app)
    sub.add_parser("apps:info", parents=[common, app_option], help="show an app").set_defaults(func=info)
    destroy = sub.add_parser("apps:destroy", parents=[common], help="destroy an app and all its history")
    destroy.add_argument("name", help="app to destroy")
    destroy.add_argument("--confirm", metavar="NAME", help="repeat the app name to confirm")
    destroy.set_defaults(func=destroy_app)
    on = sub.add_parser("maintenance:on", parents=[common, app_option], help="serve a maintenance page (503)")
    on.set_defaults(func=maintenance, enabled=True)
    off = sub.add_parser("maintenance:off", parents=[common, app_option], help="serve the app again")
    off.set_defaults(func=maintenance, enabled=False)
    sub.add_parser("stacks", parents=[common], help="list the stacks apps can use").set_defaults(func=list_stacks)
    stack = sub.add_parser("stack:set", parents=[common, app_option], help="choose the stack the next build uses")
    stack.add_argument("stack")
    stack.set_defaults(func=set_stack)
    check = sub.add_parser("healthcheck:set", parents=[common, app_option],
                           help="an HTTP path web instances must answer (2xx/3xx) before taking traffic")
    check.add_argument("path", help="e.g. /health")
    check.set_defaults(func=healthcheck)
    uncheck = sub.add_parser("healthcheck:unset", parents=[common, app_option], help="only check that $PORT answers")
    uncheck.set_defaults(func=healthcheck, path="")


def list_apps(args) -> int:
    apps = Api().get("apps")
    if args.json:
        emit_json(apps)
    else:
        table(apps, [("name", "NAME"), ("owner", "OWNER"), ("team", "TEAM"), ("release", "RELEASE"), ("web_url", "URL")],
              empty="You have no apps. Create one with: paas apps:create NAME")
    return 0


def random_name() -> str:
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{secrets.randbelow(9000) + 1000}"


def create_app(args) -> int:
    body = {"name": args.name or random_name()}
    if args.team:
        body["team"] = args.team
    if args.stack:
        body["stack"] = args.stack
    app = Api().post("apps", body)
    remote_note = None
    if not args.no_remote and gitremote.in_repository():
        remote_note = gitremote.set_remote(app["git_url"])
    if args.json:
        emit_json(app)
        return 0
    print(f"Created {app['name']}: {app['web_url']} | {app['git_url']}")
    if remote_note:
        print(remote_note.capitalize())
    return 0


def info(args) -> int:
    app = Api().get(f"apps/{quote(args.app)}")
    if args.json:
        emit_json(app)
    else:
        print(f"=== {app['name']}")
        pairs({k: app[k] for k in ("owner", "team", "stack", "release", "web_url", "git_url", "maintenance",
                                   "health_check_path", "created_at")})
    return 0


def destroy_app(args) -> int:
    if args.confirm != args.name:
        raise CliError(f"this destroys {args.name} and its history for good; run again with --confirm {args.name}")
    Api().delete(f"apps/{quote(args.name)}?confirm={quote(args.confirm)}")
    if args.json:
        emit_json({"destroyed": args.name})
    else:
        print(f"Destroyed {args.name}")
    return 0


def maintenance(args) -> int:
    app = Api().request("PUT", f"apps/{quote(args.app)}/maintenance", {"enabled": args.enabled})
    if args.json:
        emit_json(app)
    else:
        print(f"Maintenance mode is {'on' if app['maintenance'] else 'off'} for {args.app}")
    return 0


def healthcheck(args) -> int:
    app = Api().request("PUT", f"apps/{quote(args.app)}/healthcheck", {"path": args.path})
    if args.json:
        emit_json(app)
    elif app["health_check_path"]:
        print(f"Web instances of {args.app} take traffic once GET {app['health_check_path']} answers 2xx/3xx")
    else:
        print(f"Web instances of {args.app} take traffic once $PORT answers")
    return 0


def list_stacks(args) -> int:
    found = Api().get("stacks")
    if args.json:
        emit_json(found)
        return 0
    rows = [{"name": s["name"] + (" (default)" if s["default"] else ""),
             "python": " ".join(s["languages"].get("python", [])) or "-",
             "node": " ".join(s["languages"].get("node", [])) or "-"} for s in found]
    table(rows, [("name", "STACK"), ("python", "PYTHON"), ("node", "NODE")])
    return 0


def set_stack(args) -> int:
    app = Api().request("PUT", f"apps/{quote(args.app)}/stack", {"stack": args.stack})
    print(f"Stack of {args.app} set to {app['stack']}: the next git push builds on it")
    return 0
