"""Checks for every name that crosses into the platform, at one boundary.

App names become DNS labels, directory names, Redis keys and git paths, so they
are checked here before they touch any of those. Each check raises
``Invalid`` with a message that says what was wrong and what is allowed.
"""

import re

from paas.platform.exceptions import Invalid

# ASCII only on purpose: str.isdigit() and \d accept other scripts' digits.
_APP_NAME = re.compile(r"[a-z](?:[a-z0-9-]*[a-z0-9])?\Z", re.ASCII)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
_PROCESS_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,29}\Z", re.ASCII)
_TEAM_NAME = _APP_NAME

APP_NAME_MIN = 3
APP_NAME_MAX = 30
RESERVED_APP_NAMES = frozenset({"api", "admin", "git", "www", "static", "console", "logs", "router", "paas"})


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


def check_hostname(hostname: object) -> str:
    """Return a custom domain in lowercase if it is a valid DNS hostname."""
    if not isinstance(hostname, str) or not hostname:
        raise Invalid("hostname is required")
    host = hostname.strip().lower().rstrip(".")
    if len(host) > 253:
        raise Invalid("hostname is longer than 253 characters")
    labels = host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise Invalid(f"{hostname!r} is not a valid hostname (like www.example.com)")
    if labels[-1].isdigit():
        raise Invalid(f"{hostname!r} looks like an IP address; domains must be hostnames")
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
