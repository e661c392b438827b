"""``paas``: the command line for developers, with Heroku's verbs.

Every command takes ``--json`` for scripts; app commands take ``-a NAME`` or use
the ``paas`` git remote of the current repository. Errors print one line to
stderr and exit 1; usage errors exit 2.
"""

import argparse
import sys

from paas.platform.cli import gitremote
from paas.platform.cli.commands import (
    access, addons, alerts, apps, auth, autoscale, backups, builds, certs, config, datastores, domains, drains, egress,
    events, logs, metrics, ps, releases, run, teams, tokens, usage,
)
from paas.platform.cli.errors import CliError

APP_COMMANDS = (apps, config, releases, builds, ps, run, autoscale, logs, alerts, metrics, drains, domains, access, egress,
                addons, datastores, backups, certs)
ACCOUNT_COMMANDS = (auth, tokens, teams, events, usage)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    app_option = argparse.ArgumentParser(add_help=False)
    app_option.add_argument("-a", "--app", help="app name (default: from the 'paas' git remote)")
    app_option.set_defaults(needs_app=True)
    parser = argparse.ArgumentParser(prog="paas", description="Deploy and run apps on paas.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in ACCOUNT_COMMANDS:
        module.register(sub, common)
    for module in APP_COMMANDS:
        module.register(sub, common, app_option)
    return parser


def resolve_app(args) -> None:
    if not getattr(args, "needs_app", False) or args.app:
        return
    args.app = gitremote.app_from_remote()
    if not args.app:
        raise CliError("no app given: use -a NAME, or run this inside a repository with a 'paas' git remote")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve_app(args)
        return args.func(args)
    except CliError as error:
        print(f" !    {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
