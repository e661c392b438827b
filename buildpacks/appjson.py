"""app.json: the app's manifest (Heroku's format), read from the pushed tree and checked whole.

    manifest = read(source_dir)      # None without an app.json; BuildError when it is bad

What the platform acts on (platform/builds/appjson.py applies it on the app's first push):
`env` (name -> value | {value, required, generator: "secret", description}), `formation`
(type -> {quantity, size}), `scripts.postdeploy`, `buildpacks` ([{url: name}]) and `stack`. Other
top-level keys of Heroku's format (name, description, addons, environments, ...) are accepted
and ignored. An error names the JSON path of what is wrong and the rule, never the value.
"""

import json
from dataclasses import dataclass, field

import jsonschema

from . import tenantfs
from .errors import BuildError

MAX_BYTES = 64 * 1024
NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]{0,199}$"
PROCESS_PATTERN = "^[a-z0-9][a-z0-9_-]{0,29}$"

_ENV_ENTRY = {
    "type": ["string", "object"],
    "maxLength": 32 * 1024,
    "properties": {
        "description": {"type": "string"},
        "value": {"type": "string", "maxLength": 32 * 1024},
        "required": {"type": "boolean"},
        "generator": {"enum": ["secret"]},
    },
    "additionalProperties": False,
}
SCHEMA = {
    "type": "object",
    "properties": {
        "env": {"type": "object", "propertyNames": {"pattern": NAME_PATTERN}, "additionalProperties": _ENV_ENTRY,
                "maxProperties": 500},
        "formation": {
            "type": "object", "propertyNames": {"pattern": PROCESS_PATTERN}, "maxProperties": 50,
            "additionalProperties": {
                "type": "object",
                "properties": {"quantity": {"type": "integer", "minimum": 0, "maximum": 100},
                               "size": {"type": "string", "pattern": "^[a-z0-9-]{1,20}$"}},
                "additionalProperties": False,
            },
        },
        "scripts": {
            "type": "object",
            "properties": {"postdeploy": {"type": "string", "minLength": 1, "maxLength": 8192},
                           "pr-predestroy": {"type": "string"}},
            "additionalProperties": False,
        },
        "buildpacks": {
            "type": "array", "maxItems": 10,
            "items": {"type": "object", "properties": {"url": {"type": "string", "minLength": 1, "maxLength": 200}},
                      "required": ["url"], "additionalProperties": False},
        },
        "stack": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
    },
}


@dataclass(frozen=True)
class EnvVar:
    value: str | None = None
    required: bool = True
    generator: str | None = None


@dataclass(frozen=True)
class Manifest:
    env: dict[str, EnvVar] = field(default_factory=dict)
    formation: dict[str, dict] = field(default_factory=dict)
    postdeploy: str | None = None
    buildpacks: list[str] = field(default_factory=list)
    stack: str | None = None


def read(source_dir: str) -> Manifest | None:
    """The app.json of the pushed tree, checked; None when there is none."""
    data = tenantfs.read_file(source_dir, "app.json", MAX_BYTES)
    return None if data is None else parse(data)


def parse(data: bytes) -> Manifest:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BuildError("app.json is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BuildError(f"app.json is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))
    if error is not None:
        raise BuildError(f"app.json: {error.json_path}: {_rule(error)}")
    return _manifest(doc)


def _rule(error) -> str:
    """What the rule asks, in words, without quoting the value."""
    v, expected = error.validator, error.validator_value
    if v == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(f"{'an' if k[0] in 'aeio' else 'a'} {k}" for k in kinds)
    if v == "enum":
        return "must be one of: " + ", ".join(json.dumps(e) for e in expected)
    if v == "pattern" and "propertyNames" in error.schema_path:
        # A key is a name the developer chose, not a value: naming it shows which one.
        return f"key {str(error.instance)[:60]!r} must match {expected}"
    if v == "pattern":
        return f"must match {expected}"
    if v == "propertyNames":
        return "has a key that is not a valid name here"
    if v == "additionalProperties":
        return "has an unknown key (known: " + ", ".join(sorted(error.schema.get("properties", {}))) + ")"
    if v == "required":
        return "lacks " + ", ".join(expected)
    if v in ("minimum", "maximum"):
        return f"must be at {'least' if v == 'minimum' else 'most'} {expected}"
    if v in ("maxLength", "minLength", "maxItems", "maxProperties"):
        return f"is too {'short' if v == 'minLength' else 'long'} (limit {expected})"
    return f"breaks the rule {v}"


def _manifest(doc) -> Manifest:
    if not isinstance(doc, dict):
        raise BuildError("app.json: $: must be an object")
    env = {}
    for name, entry in (doc.get("env") or {}).items():
        if isinstance(entry, str):
            env[name] = EnvVar(value=entry)
        else:
            env[name] = EnvVar(value=entry.get("value"), required=entry.get("required", True),
                               generator=entry.get("generator"))
    return Manifest(env=env, formation=dict(doc.get("formation") or {}),
                    postdeploy=(doc.get("scripts") or {}).get("postdeploy"),
                    buildpacks=[b["url"] for b in doc.get("buildpacks") or []], stack=doc.get("stack"))
