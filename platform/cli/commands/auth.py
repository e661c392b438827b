"""login, logout, whoami."""

import getpass
import sys

from paas.platform.cli import credentials, trust
from paas.platform.cli.client import Api
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs


def register(sub, common):
    login_parser = sub.add_parser("login", parents=[common], help="log in and store a token for the CLI and git")
    login_parser.add_argument("--api", metavar="URL", help="the paas API URL (asked for when not given)")
    login_parser.add_argument("--token", help="use this API token instead of a username and password")
    login_parser.add_argument("--username", "-u", help="username (asked for when not given)")
    login_parser.add_argument("--ca", metavar="FILE", help="trust this CA certificate (PEM) for an https:// API "
                              "(default: the system's, else the platform's own after showing its fingerprint)")
    login_parser.set_defaults(func=login)
    sub.add_parser("logout", parents=[common], help="forget the stored token").set_defaults(func=logout)
    sub.add_parser("whoami", parents=[common], help="show who you are logged in as").set_defaults(func=whoami)


def ask(prompt: str, default: str | None = None) -> str:
    label = f"{prompt} [{default}]: " if default else f"{prompt}: "
    sys.stderr.write(label)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise CliError(f"no {prompt.lower()} given (stdin closed)")
    return line.strip() or (default or "")


def ask_secret(prompt: str) -> str:
    # getpass needs a terminal; a script piping the password in gets a plain read.
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    return ask(prompt)


def login(args) -> int:
    url = (args.api or (ask("API URL", credentials.api_url()) if not args.token else credentials.api_url())).rstrip("/")
    credentials.host_of(url)
    config = credentials.load_config()
    # Before any secret is sent: what to trust for this URL (trust.py), kept for every later request.
    cafile = trust.establish(url, args.ca)
    config.pop("ca_file", None)
    if cafile:
        config["ca_file"] = cafile
    credentials.save_config(config)
    if args.token:
        secret = args.token
    else:
        username = args.username or ask("Username")
        password = ask_secret("Password")
        if not username or not password:
            raise CliError("username and password are required")
        secret = Api(url, "").post("login", {"username": username, "password": password}, auth=False)["token"]
    account = Api(url, secret).get("account")
    config.update(api_url=url, username=account["username"])
    credentials.save_config(config)
    # Git may be served from another host than the API: store the token for both.
    hosts = {credentials.host_of(url), credentials.host_of(account["git_url"])}
    credentials.store_token(hosts, account["username"], secret)
    # git pushes to the platform over HTTPS (paas.<base> serves git too) verify with the same CA.
    trust.configure_git({url, account["git_url"]}, cafile)
    print(f"Logged in as {account['username']} at {url}")
    return 0


def logout(args) -> int:
    config = credentials.load_config()
    url = credentials.api_url()
    removed = credentials.forget_hosts({credentials.host_of(url)})
    config.pop("username", None)
    credentials.save_config(config)
    # The CA stays kept (a later login verifies against it); git stops using it for this URL.
    trust.configure_git({url}, None)
    print("Logged out" if removed else "Not logged in")
    return 0


def whoami(args) -> int:
    account = Api().get("account")
    if args.json:
        emit_json(account)
    else:
        pairs({"user": account["username"], "admin": account["admin"], "teams": account["teams"], "api": credentials.api_url()})
    return 0
