"""Parsing what a buildpack's bin/release prints (YAML, Heroku classic API)."""

from dataclasses import dataclass, field

import yaml

from .errors import BuildError


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
    Other keys are ignored, as Heroku does.
    """
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise BuildError(f"{buildpack} bin/release printed invalid YAML: {_first_line(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BuildError(f"{buildpack} bin/release must print a YAML mapping, got {type(data).__name__}")
    return ReleaseInfo(
        default_process_types=_string_map(data, "default_process_types", buildpack),
        config_vars=_string_map(data, "config_vars", buildpack),
        addons=_string_list(data, "addons", buildpack),
    )


def _string_map(data: dict, key: str, buildpack: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise BuildError(f"{buildpack} bin/release: {key} must be a mapping")
    out = {}
    for name, item in value.items():
        if not isinstance(name, str) or isinstance(item, (dict, list)) or item is None:
            raise BuildError(f"{buildpack} bin/release: {key} entry {name!r} must map a name to a string")
        out[name] = str(item)
    return out


def _string_list(data: dict, key: str, buildpack: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BuildError(f"{buildpack} bin/release: {key} must be a list of names")
    return list(value)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
