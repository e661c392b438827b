"""Strict Procfile parsing: `type: command` lines, one process type each."""

import re

from .errors import BuildError

# Heroku's rule for type names, with a length cap because a type becomes part
# of instance names and DNS-style labels further down the platform.
TYPE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def parse_procfile(text: str) -> dict[str, str]:
    """Return {process type: command} from a Procfile's text.

    Blank lines and `#` comments are allowed. Anything else that is not
    `name: command` raises BuildError naming the line, as do invalid type
    names, empty commands and a type declared twice.
    """
    types: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        name, command = name.strip(), command.strip()
        if not sep:
            raise BuildError(f"Procfile line {number}: expected 'type: command', got {line!r}")
        if not TYPE_NAME.match(name):
            raise BuildError(
                f"Procfile line {number}: invalid process type {name!r} "
                "(use letters, digits, '-' and '_', at most 63 characters)"
            )
        if not command:
            raise BuildError(f"Procfile line {number}: process type {name!r} has no command")
        if name in types:
            raise BuildError(
                f"Procfile line {number}: process type {name!r} is already declared on line {first_seen[name]}"
            )
        types[name] = command
        first_seen[name] = number
    return types


def check_type_names(types: dict[str, str], origin: str) -> None:
    """Apply the Procfile's naming rule to process types from elsewhere (bin/release)."""
    for name in types:
        if not TYPE_NAME.match(name):
            raise BuildError(f"{origin}: invalid process type {name!r}")


def read_procfile(path) -> dict[str, str]:
    """Parse the Procfile at path; a missing file declares no types."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    try:
        # utf-8-sig: editors on Windows put a byte-order mark before "web:".
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BuildError("Procfile is not valid UTF-8 text") from None
    return parse_procfile(text)
