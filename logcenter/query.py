"""The search query language, parsed in plain code (no engine involved): what ``paas logs --search`` takes.

    words                 every word must be in the line (whole words, any case)
    "an exact phrase"     the phrase must be in the line (any case)
    -word, -"phrase"      must not be
    field:value           source, process, instance, release, host, level, request_id, method, path
                          (process:web matches web.1, web.2; path:/api matches paths starting /api)
    status:>=500          numeric comparisons (>, >=, <, <=, =) on status, duration (ms), bytes

Times: ``since`` / ``until`` are RFC 3339 times or ages like ``90s``, ``15m``, ``1h``, ``2d``.
A bad query raises QueryError naming the problem (the API answers it as a 400).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

TEXT_FIELDS = ("source", "process", "instance", "release", "host", "level", "request_id", "method", "path")
NUMBER_FIELDS = ("status", "duration", "bytes")
OPERATORS = (">=", "<=", ">", "<", "=")
MAX_QUERY = 1000           # characters
MAX_TERMS = 32
_AGE = re.compile(r"([1-9][0-9]{0,6})([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_NUMBER = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?\Z")


class QueryError(ValueError):
    """A query, time or cursor that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class Term:
    kind: str              # "word", "phrase", "field" or "compare"
    value: str | float
    field: str = ""
    op: str = "="
    negate: bool = False


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The text between the quote at ``start`` and the next one, and the index after it."""
    end = text.find('"', start + 1)
    if end < 0:
        raise QueryError(f'unbalanced quote at character {start + 1}')
    return text[start + 1:end], end + 1


def parse(text: str) -> list[Term]:
    """The terms of a query; an empty query is no terms (everything matches)."""
    if len(text) > MAX_QUERY:
        raise QueryError(f"query longer than {MAX_QUERY} characters")
    if any(ord(c) < 32 for c in text):
        raise QueryError("query has control characters")
    terms, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        negate = text[i] == "-" and i + 1 < len(text) and not text[i + 1].isspace()
        if negate:
            i += 1
        if text[i] == '"':
            phrase, i = _read_quoted(text, i)
            if phrase.strip():
                terms.append(Term("phrase", phrase, negate=negate))
            continue
        start = i
        while i < len(text) and not text[i].isspace() and text[i] != '"':
            i += 1
        word = text[start:i]
        name, colon, rest = word.partition(":")
        if colon and name.isidentifier():
            if i < len(text) and text[i] == '"' and not rest:   # field:"quoted value"
                rest, i = _read_quoted(text, i)
            terms.append(_field_term(name.lower(), rest, negate))
        else:
            terms.append(Term("word", word, negate=negate))
        if len(terms) > MAX_TERMS:
            raise QueryError(f"more than {MAX_TERMS} terms")
    return terms


def _field_term(name: str, value: str, negate: bool) -> Term:
    if name in NUMBER_FIELDS:
        op = next((o for o in OPERATORS if value.startswith(o)), "=")
        number = value[len(op):] if value.startswith(op) else value
        if not _NUMBER.match(number):
            raise QueryError(f"{name}: wants a number, optionally after >, >=, <, <= (got {value[:40]!r})")
        return Term("compare", float(number), field=name, op=op, negate=negate)
    if name not in TEXT_FIELDS:
        raise QueryError(f"unknown field {name[:40]!r} (fields: {', '.join(TEXT_FIELDS + NUMBER_FIELDS)})")
    if not value:
        raise QueryError(f"{name}: wants a value")
    return Term("field", value, field=name, negate=negate)


def parse_time(text: str, now: datetime, name: str) -> datetime:
    """``since``/``until``: an age (``15m``: that long before ``now``) or an RFC 3339 time with its zone."""
    age = _AGE.match(text)
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00")) if len(text) <= 40 else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise QueryError(f"{name}: wants an age like 15m, 1h, 2d or an RFC 3339 time with a zone")
    return value.astimezone(timezone.utc)


def time_range(since: str | None, until: str | None, now: datetime | None = None,
               default_since: timedelta = timedelta(days=1)) -> tuple[datetime, datetime]:
    """The (since, until) of a search; ``since`` after ``until`` is refused."""
    now = now or datetime.now(timezone.utc)
    end = parse_time(until, now, "until") if until else now
    start = parse_time(since, now, "since") if since else end - default_since
    if start > end:
        raise QueryError("since is after until")
    return start, end


def parse_cursor(text: str) -> tuple[int, str]:
    """A page cursor (``<microseconds>.<entry id>`` of the last line shown) -> (microseconds, entry id)."""
    micros, dot, entry_id = text.partition(".")
    if not (dot and micros.isdigit() and len(micros) <= 20 and re.fullmatch(r"[0-9a-z\-]{1,80}", entry_id)):
        raise QueryError("cursor: not one this API gave")
    return int(micros), entry_id


def make_cursor(micros: int, entry_id: str) -> str:
    return f"{micros}.{entry_id}"


_ENTRY_ID = re.compile(r"([0-9]{1,15})-([0-9]{1,15})(?:-dropped)?\Z")


def parse_after(text: str, now: datetime | None = None) -> tuple[int, int]:
    """``after`` of a tail: a stream entry id a search gave (``1700000000000-3``), or ``latest`` (now)."""
    if text == "latest":
        return int((now or datetime.now(timezone.utc)).timestamp() * 1000), 0
    match = _ENTRY_ID.match(text) if isinstance(text, str) else None
    if not match:
        raise QueryError("after: wants the id of a line a search gave, or latest")
    return int(match.group(1)), int(match.group(2))
