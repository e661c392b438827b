"""Parsing what a buildpack's bin/release prints (YAML, Heroku classic API)."""

from dataclasses import dataclass, field

import yaml

from paas.runtime.validate import ENV_NAME, ENV_VALUE_KEEPS, control_char

from .errors import BuildError
from .procfile import check_process_types
from .tenantfs import shown

# What bin/release may print. Shipped buildpacks print a few hundred bytes;
# the cap keeps a runaway script from filling the worker's memory.
MAX_OUTPUT_BYTES = 1024 * 1024


@dataclass
class ReleaseInfo:
    """The parts of bin/release output the platform uses."""

    default_process_types: dict[str, str] = field(default_factory=dict)
    config_vars: dict[str, str] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)


def parse_release(text: str, buildpack: str) -> ReleaseInfo:
    """Parse bin/release output; empty output means no defaults.

    `default_process_types` and `config_vars` must map strings to strings;
    `addons` is kept as a list of names for the caller to act on or ignore.
    Other keys are ignored, as Heroku does. Process types follow the
    Procfile's rules (names, commands without control characters); config
    var names must be environment variable names and values hold no NUL (the
    runner's rule for environment values). Errors name the key, never a value.
    """
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise BuildError(f"{buildpack} bin/release printed invalid YAML{_where(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BuildError(f"{buildpack} bin/release must print a YAML mapping, got {type(data).__name__}")
    info = ReleaseInfo(
        default_process_types=_string_map(data, "default_process_types", buildpack),
        config_vars=_string_map(data, "config_vars", buildpack),
        addons=_string_list(data, "addons", buildpack),
    )
    check_process_types(info.default_process_types, f"{buildpack} bin/release")
    for name, value in info.config_vars.items():
        if not ENV_NAME.fullmatch(name):
            raise BuildError(f"{buildpack} bin/release: config var name {shown(name)} is not a valid environment "
                             "variable name")
        found = control_char(value, ENV_VALUE_KEEPS)
        if found is not None:
            raise BuildError(f"{buildpack} bin/release: config var {name} contains a control character ({found})")
    return info


def _string_map(data: dict, key: str, buildpack: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise BuildError(f"{buildpack} bin/release: {key} must be a mapping")
    out = {}
    for name, item in value.items():
        if not isinstance(name, str) or isinstance(item, (dict, list)) or item is None:
            raise BuildError(f"{buildpack} bin/release: {key} entry {shown(str(name))} must map a name to a string")
        out[name] = str(item)
    return out


def _string_list(data: dict, key: str, buildpack: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildError(f"{buildpack} bin/release: {key} must be a list of names")
    return list(value)


def _where(exc: yaml.YAMLError) -> str:
    # Only the position and PyYAML's own words for the problem: the output
    # may hold anything the build wrote, so none of it is quoted back.
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or ""
    words = problem.split("'")[0].strip() if problem else ""
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"{where}: {words}" if words else where
