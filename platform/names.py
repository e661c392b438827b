"""Checks for every name and piece of text that crosses into the platform, at one boundary.

App names become DNS labels, directory names, Redis keys and git paths, so they
are checked here before they touch any of those. Free text (a description, a
config value, a command) is checked by ``check_text``: PostgreSQL refuses NUL in
text, Redis and UTF-8 encoders refuse lone surrogates, and control characters in a
one-line field end up in terminals and log lines. Each check raises ``Invalid``
with a message that says what was wrong and what is allowed, never echoing the
offending text itself.
"""

import re

import idna

from paas.contracts import redis_keys
from paas.platform.exceptions import Invalid

# ASCII only on purpose: str.isdigit() and \d accept other scripts' digits.
_APP_NAME = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?\Z", re.ASCII)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
_PROCESS_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,29}\Z", re.ASCII)
_TEAM_NAME = _APP_NAME
# Instance names are "<app>-<type>-<n>-<generation>" or "<app>-run-<n>-<hhmmss>" (actions/runs.py).
_INSTANCE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,99}\Z", re.ASCII)
# Unicode's control characters (category Cc: C0, DEL, C1) and lone surrogates, searched
# for by one regular expression (fast on a megabyte of text). Tab, newline and carriage
# return are the only controls a multi-line value (a PEM key in a config var, a shell
# script in paas run) may carry.
_BAD_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

APP_NAME_MIN = 3
APP_NAME_MAX = 30
# With the names that an app's log stream would share with another key (``logs:offsets``: an app
# called that would break every agent's log shipping).
RESERVED_APP_NAMES = frozenset({"api", "admin", "git", "www", "static", "console", "logs", "router", "paas",
                                *redis_keys.RESERVED_LOG_NAMES})


def check_app_name(name: object) -> str:
    """Return the app name if it is a DNS label of 3-30 lowercase ASCII chars."""
    if not isinstance(name, str) or name == "":
        raise Invalid("app name is required")
    if not (APP_NAME_MIN <= len(name) <= APP_NAME_MAX):
        raise Invalid(f"app name must be {APP_NAME_MIN}-{APP_NAME_MAX} characters, got {len(name)}")
    if not _APP_NAME.match(name) or "--" in name:
        raise Invalid(
            f"app name {name!r} is not valid: use lowercase letters a-z, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    if name in RESERVED_APP_NAMES:
        raise Invalid(f"app name {name!r} is reserved by the platform")
    return name


def check_team_name(name: object) -> str:
    if not isinstance(name, str) or not (2 <= len(name) <= 30) or not _TEAM_NAME.match(name):
        raise Invalid("team name must be 2-30 characters of lowercase letters, digits and hyphens, starting with a letter")
    return name


# A custom domain is proven by a TXT record at VERIFY_LABEL.<domain>, a name that must
# itself fit DNS's 253 characters: that bounds the domain's own length.
VERIFY_LABEL = "_paas-verify"
HOSTNAME_MAX = 253 - len(VERIFY_LABEL) - 1


def check_hostname(hostname: object) -> str:
    """Return a custom domain as lowercase ASCII (IDNA A-labels for international names) if it is valid.

    A hostname of at least two labels, each 1-63 letters, digits or inner hyphens, at most
    HOSTNAME_MAX characters in all; no wildcards, no IP addresses, no underscores.
    """
    if not isinstance(hostname, str) or not hostname.strip():
        raise Invalid("hostname is required")
    if len(hostname) > HOSTNAME_MAX + 1:  # checked before IDNA so a huge value costs nothing
        raise Invalid(f"hostname is longer than {HOSTNAME_MAX} characters")
    if "*" in hostname:
        raise Invalid("wildcard domains are not supported: add each hostname (like www.example.com)")
    shown = ascii(hostname)[:80]  # never echo control characters or surrogates raw
    name = hostname.strip().rstrip(".")
    if not name.isascii():
        try:
            # IDNA 2008 with UTS 46 mapping (case folding, full-width dots), as browsers resolve names.
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise Invalid(f"{shown} is not a valid international domain name (IDNA)") from None
    host = name.lower()
    if len(host) > HOSTNAME_MAX:
        raise Invalid(f"hostname is longer than {HOSTNAME_MAX} characters")
    labels = host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise Invalid(f"{shown} is not a valid hostname (like www.example.com)")
    if labels[-1].isdigit():
        raise Invalid(f"{shown} looks like an IP address; domains must be hostnames")
    if any(label.startswith("xn--") for label in labels):
        try:
            idna.decode(host)  # an A-label given directly must be a valid one
        except (idna.IDNAError, UnicodeError, ValueError):
            raise Invalid(f"{shown} has an invalid xn-- label") from None
    return host


def check_env_key(key: object) -> str:
    if not isinstance(key, str) or not _ENV_KEY.match(key):
        raise Invalid(
            f"config key {key!r} is not a valid environment variable name "
            "(letters, digits and underscores, not starting with a digit)"
        )
    if len(key) > 128:
        raise Invalid(f"config key {key[:20]!r}... is longer than 128 characters")
    return key


def check_process_type(name: object) -> str:
    if not isinstance(name, str) or not _PROCESS_TYPE.match(name):
        raise Invalid(f"process type {name!r} is not valid (lowercase letters, digits, '-' and '_', up to 30)")
    return name


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """What makes ``value`` unusable as text, or None: a lone surrogate, NUL or another control character."""
    found = (_BAD_IN_TEXT if multiline else _BAD_IN_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate (not valid Unicode text)"
    if char == "\0":
        return "a NUL character"
    return f"the control character U+{ord(char):04X}"


def check_text(value: object, what: str, *, multiline: bool = False, max_length: int | None = None) -> str:
    """Return ``value`` if it is a string of valid Unicode without NUL or control characters.

    ``multiline`` allows tab, newline and carriage return (config values, commands).
    The message names the field (``what``) and the problem, never the text.
    """
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if max_length is not None and len(value) > max_length:
        raise Invalid(f"{what} must be at most {max_length} characters, got {len(value)}")
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise Invalid(f"{what} contains {problem}")
    return value


def check_instance_name(name: object) -> str:
    """Return the name of an instance or a one-off run (``demo-run-3-120102``) if it could be one."""
    if not isinstance(name, str) or not _INSTANCE_NAME.match(name):
        raise Invalid("an instance name is lowercase letters, digits and hyphens, at most 100 characters")
    return name
