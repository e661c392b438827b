"""``paas``: the command line for developers, with Heroku's verbs.

Every command takes ``--json`` for scripts; app commands take ``-a NAME`` or use
the ``paas`` git remote of the current repository. Errors print one line to
stderr and exit 1; usage errors exit 2.
"""

import argparse
import importlib
import sys

from paas.platform.cli import gitremote
from paas.platform.cli.errors import CliError

APP_COMMANDS = ("apps", "config", "releases", "builds", "ps", "run", "autoscale", "logs", "alerts", "metrics", "drains",
                "domains", "access", "egress", "addons", "datastores", "backups", "certs", "https", "registry")
ACCOUNT_COMMANDS = ("auth", "tokens", "teams", "events", "usage", "hosts")

# Which module registers a command, by the command's longest matching prefix (``ps:scale`` -> ps).
# Only that module is imported for a run: the CLI's start is on every path users wait on.
# tests/platform/test_cli_main.py checks this index against what every module registers.
OWNERS = {
    "logs:alerts": "alerts", "maintenance": "apps", "stacks": "apps", "stack": "apps", "healthcheck": "apps",
    "login": "auth", "logout": "auth", "whoami": "auth", "pg:backups": "backups", "pg": "datastores",
    "redis": "datastores", "rollback": "releases", "deploy": "releases",
    **{name: name for name in APP_COMMANDS + ACCOUNT_COMMANDS},
}


def owner(command: str) -> str | None:
    """The module that registers ``command``, or None when no prefix matches."""
    parts = command.split(":")
    for end in range(len(parts), 0, -1):
        found = OWNERS.get(":".join(parts[:end]))
        if found:
            return found
    return None


def command_modules(argv: list[str]) -> tuple[list, list]:
    """The (account, app) command modules to register: only the named command's, else all (help, usage)."""
    name = owner(argv[0]) if argv and not argv[0].startswith("-") else None
    account = [n for n in ACCOUNT_COMMANDS if name in (None, n)]
    app = [n for n in APP_COMMANDS if name in (None, n)]
    return load(account), load(app)


def load(names: list[str]) -> list:
    return [importlib.import_module(f"paas.platform.cli.commands.{name}") for name in names]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv`` (every command when None)."""
    account, app = command_modules(argv or [])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    app_option = argparse.ArgumentParser(add_help=False)
    app_option.add_argument("-a", "--app", help="app name (default: from the 'paas' git remote)")
    app_option.set_defaults(needs_app=True)
    parser = argparse.ArgumentParser(prog="paas", description="Deploy and run apps on paas.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in account:
        module.register(sub, common)
    for module in app:
        module.register(sub, common, app_option)
    return parser


def resolve_app(args) -> None:
    if not getattr(args, "needs_app", False) or args.app:
        return
    args.app = gitremote.app_from_remote()
    if not args.app:
        raise CliError("no app given: use -a NAME, or run this inside a repository with a 'paas' git remote")


def parse(argv: list[str]):
    """Parse with the named command's module alone; anything it does not know gets the full parser's usage."""
    if owner(argv[0] if argv else "-") is None:
        return build_parser().parse_args(argv)
    return build_parser(argv).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
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
