"""config, config:get, config:set, config:unset."""

import shlex

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json


def register(sub, common, app_option):
    show = sub.add_parser("config", parents=[common, app_option], help="show config vars")
    show.add_argument("--shell", action="store_true", help="print KEY=value lines for a shell")
    show.set_defaults(func=show_config)
    get = sub.add_parser("config:get", parents=[common, app_option], help="print one config var")
    get.add_argument("key")
    get.set_defaults(func=get_var)
    set_parser = sub.add_parser("config:set", parents=[common, app_option], help="set config vars (new release)")
    set_parser.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    set_parser.set_defaults(func=set_vars)
    unset = sub.add_parser("config:unset", parents=[common, app_option], help="remove config vars (new release)")
    unset.add_argument("keys", nargs="+", metavar="KEY")
    unset.set_defaults(func=unset_vars)


def show_config(args) -> int:
    values = Api().get(f"apps/{quote(args.app)}/config")
    if args.json:
        emit_json(values)
    elif args.shell:
        for key in sorted(values):
            print(f"{key}={shlex.quote(values[key])}")
    else:
        print(f"=== {args.app} config vars")
        width = max((len(k) for k in values), default=0)
        for key in sorted(values):
            print(f"{key + ':':<{width + 1}} {values[key]}")
    return 0


def get_var(args) -> int:
    values = Api().get(f"apps/{quote(args.app)}/config")
    if args.key not in values:
        raise CliError(f"{args.key} is not set on {args.app}")
    print(values[args.key])
    return 0


def parse_pairs(items: list[str]) -> dict:
    changes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{item!r} is not KEY=VALUE")
        changes[key] = value
    return changes


def set_vars(args) -> int:
    result = Api().patch(f"apps/{quote(args.app)}/config", parse_pairs(args.pairs))
    return report(args, result, f"Set {', '.join(parse_pairs(args.pairs))}")


def unset_vars(args) -> int:
    result = Api().patch(f"apps/{quote(args.app)}/config", {key: None for key in args.keys})
    return report(args, result, f"Unset {', '.join(args.keys)}")


def report(args, result, what: str) -> int:
    if args.json:
        emit_json(result)
    else:
        print(f"{what} and restarted {args.app}: v{result['release']}")
    return 0
