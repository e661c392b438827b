"""Strict Procfile parsing: `type: command` lines, one process type each.

The rules for process type names and commands live here, and bin/release's
default_process_types go through the same checks (see release.py).
"""

import re

from paas.runtime.validate import control_char

from . import tenantfs
from .errors import BuildError

FILE_NAME = "Procfile"
# Heroku's rule for type names, with a length cap because a type becomes part
# of instance names and DNS-style labels further down the platform.
TYPE_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
# A Procfile of this size holds hundreds of process types; a bigger one is
# not a Procfile, and reading it would only cost the worker memory.
MAX_BYTES = 64 * 1024
# A process command is one Procfile line: it keeps tabs (people indent and
# separate with them) and no other control character. NUL would cut the
# command short where the runner passes it on (and split paas-init's spec);
# ESC, CR, BEL and the rest are invisible in `paas ps` and the console and
# could rewrite what a terminal shows there. Newlines cannot occur in a
# Procfile line, and bin/release's commands follow the same rule.
COMMAND_KEEPS = "\t"


def parse_procfile(text: str) -> dict[str, str]:
    """Return {process type: command} from a Procfile's text.

    Blank lines and `#` comments are allowed. Anything else that is not
    `name: command` raises BuildError naming the line, as do invalid type
    names, empty commands, control characters in a command and a type
    declared twice. Errors never quote the line itself: the file came out of
    a build and may be anything.
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
            raise BuildError(f"Procfile line {number}: expected 'type: command' (no ':' found)")
        if not TYPE_NAME.fullmatch(name):
            raise BuildError(
                f"Procfile line {number}: invalid process type name "
                "(use letters, digits, '-' and '_', at most 63 characters)"
            )
        if not command:
            raise BuildError(f"Procfile line {number}: process type {name!r} has no command")
        check_command(command, f"Procfile line {number}: the command of process type {name!r}")
        if name in types:
            raise BuildError(
                f"Procfile line {number}: process type {name!r} is already declared on line {first_seen[name]}"
            )
        types[name] = command
        first_seen[name] = number
    return types


def check_command(command: str, field: str) -> None:
    """Refuse a process command holding a control character other than tab; field names it in the error."""
    found = control_char(command, COMMAND_KEEPS)
    if found is not None:
        raise BuildError(f"{field} contains a control character ({found}); only tabs are allowed in commands")


def check_process_types(types: dict[str, str], origin: str) -> None:
    """Apply the Procfile's rules for names and commands to process types from elsewhere (bin/release)."""
    for name, command in types.items():
        if not TYPE_NAME.fullmatch(name):
            raise BuildError(
                f"{origin}: invalid process type name {tenantfs.shown(name)} "
                "(use letters, digits, '-' and '_', at most 63 characters)"
            )
        check_command(command, f"{origin}: the command of process type {name!r}")


def read_procfile(app_dir) -> dict[str, str]:
    """Parse app_dir's Procfile; a missing file declares no types.

    The file is read through tenantfs (a regular file, no link, at most
    MAX_BYTES): BuildError names the Procfile and the rule otherwise.
    """
    raw = tenantfs.read_file(str(app_dir), FILE_NAME, MAX_BYTES)
    if raw is None:
        return {}
    try:
        # utf-8-sig: editors on Windows put a byte-order mark before "web:".
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BuildError("Procfile is not valid UTF-8 text") from None
    return parse_procfile(text)
