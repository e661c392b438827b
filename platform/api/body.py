"""Reading an API request's JSON body: its size, then its depth, then JSON, then every string.

Each limit is checked before the next, costlier step: the declared size before a
byte is read, the nesting depth before the parser recurses (a 100,000-deep array
exhausts Python's stack inside ``json.loads``), and every key and string once parsed.
NUL, lone surrogates and control characters are refused here once for every
endpoint (PostgreSQL refuses NUL, UTF-8 encoders refuse surrogates); each field's
own rules (a name's pattern, a value's length) follow in its action.
"""

import json
import re

from paas.platform.exceptions import BadRequest, Invalid, PayloadTooLarge
from paas.platform.names import text_problem

MAX_BODY_BYTES = 1024 * 1024
# The deepest body any endpoint takes is {"web": {"quantity": 2}}: 32 leaves room and
# keeps the parser far from the interpreter's recursion limit.
MAX_DEPTH = 32
BODYLESS_METHODS = ("GET", "HEAD", "DELETE")
# Bytes that change the nesting or the in-string state; everything else is skipped in C.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')
# A key path shown in an error is cut here: it is made of the client's own keys.
MAX_PATH_SHOWN = 80


def check_declared_size(request, limit: int = MAX_BODY_BYTES) -> int:
    """Refuse a body whose Content-Length is over the limit, before any of it is read; its size."""
    return declared_size(request.META.get("CONTENT_LENGTH") or "0", limit)


def declared_size(raw: str, limit: int) -> int:
    """A Content-Length value as a size, refused when malformed or over ``limit``."""
    if not raw.isascii() or not raw.isdigit():
        raise BadRequest("Content-Length must be a whole number of bytes")
    if len(raw) > 13 or int(raw) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return int(raw)


def read_json_body(request) -> dict:
    """The request's JSON object ({} when there is none), or BadRequest/PayloadTooLarge saying why not."""
    check_declared_size(request)
    body = request.body
    if not body:
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")
    if nesting_depth(body, MAX_DEPTH) > MAX_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(body, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    check_strings(data)
    return data


def refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def nesting_depth(body: bytes, stop_above: int) -> int:
    """How deep arrays and objects nest in ``body``, counting no further than ``stop_above`` + 1.

    Linear in the body's length (a regular expression for JSON strings can backtrack
    quadratically on a hostile body): only structural bytes are visited, brackets
    inside strings do not count, and a backslash in a string skips the byte after it.
    """
    depth = deepest = 0
    in_string = False
    skip_at = -1
    for match in _STRUCTURE.finditer(body):
        at = match.start()
        if at == skip_at:
            continue
        byte = body[at]
        if in_string:
            if byte == 0x5C:  # backslash: the next byte is escaped
                skip_at = at + 1
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        elif byte in b"]}":
            depth -= 1
    return deepest


def check_strings(data) -> None:
    """Refuse (422) NUL, lone surrogates and control characters in every key and string of ``data``.

    Keys are one-line names (config keys, process types); string values may hold
    tab and newline (a PEM key as a config var, a script for paas run).
    """
    pending = [("$", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            problem = text_problem(value, multiline=True)
            if problem:
                raise Invalid(f"request body: the string at {shown(path)} contains {problem}")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    raise Invalid(f"request body: a key in {shown(path)} contains {problem}")
                pending.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def shown(path: str) -> str:
    return path if len(path) <= MAX_PATH_SHOWN else path[: MAX_PATH_SHOWN - 1] + "…"
