"""Where the CLI keeps the API URL and the token.

The API URL goes to ``$PAAS_CONFIG_DIR/config.json`` (default ``~/.config/paas``).
The token goes to ``~/.netrc`` under the API's host, as Heroku's CLI does: git
reads that file too, so ``git push paas main`` needs no password prompt.
"""

import json
import netrc
import os
from pathlib import Path
from urllib.parse import urlsplit

from paas.platform.cli.errors import CliError

DEFAULT_API_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    return Path(os.environ.get("PAAS_CONFIG_DIR") or Path.home() / ".config" / "paas")


def netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def load_config() -> dict:
    path = config_dir() / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise CliError(f"{path} is not valid JSON; fix or delete it and run paas login") from None


def save_config(config: dict) -> None:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    write_private(directory / "config.json", json.dumps(config, indent=2) + "\n")


def api_url() -> str:
    return (os.environ.get("PAAS_API_URL") or load_config().get("api_url") or DEFAULT_API_URL).rstrip("/")


def host_of(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise CliError(f"{url!r} is not an http(s) URL")
    return host


def read_netrc() -> dict[str, tuple]:
    path = netrc_path()
    if not path.exists():
        return {}
    try:
        return dict(netrc.netrc(str(path)).hosts)
    except (netrc.NetrcParseError, OSError) as error:
        raise CliError(f"cannot read {path}: {error}") from None


def token() -> str | None:
    """The token to use: $PAAS_TOKEN, else the one stored for the API's host."""
    if os.environ.get("PAAS_TOKEN"):
        return os.environ["PAAS_TOKEN"]
    entry = read_netrc().get(host_of(api_url()))
    return entry[2] if entry else None


def store_token(hosts: set[str], login: str, secret: str) -> None:
    entries = read_netrc()
    for host in hosts:
        entries[host] = (login, None, secret)
    write_netrc(entries)


def forget_hosts(hosts: set[str]) -> bool:
    entries = read_netrc()
    removed = any(entries.pop(host, None) for host in hosts)
    write_netrc(entries)
    return removed


def write_netrc(entries: dict) -> None:
    lines = []
    for host, (login, account, password) in sorted(entries.items()):
        line = f"machine {host}"
        line += f" login {login}" if login else ""
        line += f" account {account}" if account else ""
        line += f" password {password}" if password else ""
        lines.append(line)
    write_private(netrc_path(), "".join(line + "\n" for line in lines))


def write_private(path: Path, text: str) -> None:
    """Secrets are never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
