"""A batch of parsed lines on its way from an ingest worker to the store owner: the one wire format.

A batch is an Arrow table of ``SCHEMA``: ``schema.ROW``'s columns, each line's stream entry id, and
``again`` (the entry was delivered before: re-read from the worker's own pending list or claimed
from another consumer's, so the owner checks whether it is stored already). Workers build it
(``table``); ``paas-logs`` checks it (``decode``) and stores it (intake.py).

Over TCP (a worker on another host, or beside ``paas-logs``) each request is one header line of
JSON, ``{"token": ..., "consumer": ..., "bytes": N}``, then N bytes of the table as an Arrow IPC
stream; the answer is one line of JSON: ``{"stored": n, "duplicates": d, "dropped": r}`` or
``{"error": "..."}``. A connection carries any number of requests, one after the other. The token
is checked before the body is read, the size before it is accepted.
"""

import hmac
import json
import socket
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc

from paas.logcenter.schema import MAX_LINE, ROW

SCHEMA = pa.schema([
    ("time", pa.timestamp("us", tz="UTC")), ("app", pa.string()), ("source", pa.string()),
    ("process", pa.string()), ("instance", pa.string()), ("release", pa.string()), ("host", pa.string()),
    ("request_id", pa.string()), ("level", pa.string()), ("line", pa.string()),
    ("entry_id", pa.string()), ("again", pa.bool_()),
])
assert tuple(SCHEMA.names[:len(ROW)]) == ROW

MAX_HEAD = 4096                # bytes of a request's header line
MAX_BODY = 64 << 20            # bytes of one batch on the wire
BATCH_BYTES = MAX_BODY // 2    # a worker's batch in memory (Table.nbytes) at most: room for the IPC framing
MAX_ROWS = 50_000              # lines of one batch (a worker's batch is at most ingest.BATCH_LINES)
# What schema.row() can make of a line: MAX_LINE bytes, each invalid byte a 3-byte U+FFFD, and the cut
# marker; of the other fields, at most 255 input bytes each. Anything longer did not come from row().
MAX_LINE_BYTES = 3 * MAX_LINE + 64
MAX_FIELD_BYTES = 3 * 255
ENTRY_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"
TIMEOUT_S = 30.0               # a request's header and body arrive within this, and its answer


class BatchRefused(ValueError):
    """A batch that is not stored; the message names what was wrong with it."""


_EPOCH, _MICRO = datetime(1970, 1, 1, tzinfo=timezone.utc), timedelta(microseconds=1)


def _timestamps(times) -> pa.Array:
    """Aware datetimes as an Arrow timestamp column. Through integers: Arrow's own conversion asks each
    value for its UTC offset and took 2.4 us a line, an eighth of the ingest's CPU (measured); this 0.3."""
    return pa.array([(when - _EPOCH) // _MICRO for when in times], type=pa.int64()).cast(SCHEMA.field("time").type)


def table(rows: list[tuple], entry_ids: list[str], again: bool | list[bool] = False) -> pa.Table:
    """The batch of ``rows`` (``schema.ROW`` order), each with its stream entry id."""
    columns = list(zip(*rows)) if rows else [()] * len(ROW)
    arrays = [_timestamps(columns[0])]
    arrays += [pa.array(columns[i], type=pa.string()) for i in range(1, len(ROW))]
    arrays.append(pa.array(entry_ids, type=pa.string()))
    arrays.append(pa.array(again if isinstance(again, list) else [again] * len(entry_ids), type=pa.bool_()))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def rows(batch: pa.Table) -> list[tuple]:
    """The batch's lines as rows in ``schema.ROW`` order (what drains are given)."""
    return list(zip(*(batch.column(name).to_pylist() for name in ROW)))


def encode(batch: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_table(batch)
    return sink.getvalue().to_pybytes()


def decode(body: bytes) -> pa.Table:
    """The batch in ``body``, checked; raises BatchRefused naming the first problem."""
    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            if not reader.schema.equals(SCHEMA):
                raise BatchRefused(f"batch: columns are not the wire's ({', '.join(reader.schema.names)[:200]})")
            batch = reader.read_all()
        batch.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise BatchRefused(f"batch: not an Arrow stream of the wire's columns ({str(exc)[:200]})") from None
    check(batch)
    return batch


def check(batch: pa.Table) -> None:
    """Refuse a batch no worker's row() could have made: too many lines, nulls, oversized fields, bad ids."""
    if batch.num_rows > MAX_ROWS:
        raise BatchRefused(f"batch: {batch.num_rows} lines, at most {MAX_ROWS}")
    if not batch.num_rows:
        return
    for name in SCHEMA.names:
        column = batch.column(name)
        if column.null_count:
            raise BatchRefused(f"batch: {column.null_count} lines without {name}")
        if pa.types.is_string(column.type):
            longest = pc.max(pc.binary_length(column)).as_py()
            limit = MAX_LINE_BYTES if name == "line" else MAX_FIELD_BYTES
            if longest > limit:
                raise BatchRefused(f"batch: a {name} of {longest} bytes, at most {limit}")
    if not pc.all(pc.match_substring_regex(batch.column("entry_id"), ENTRY_ID)).as_py():
        raise BatchRefused("batch: an entry_id that is not a stream entry id (<ms>-<seq>)")


def head(token: str, consumer: str, size: int) -> bytes:
    return json.dumps({"token": token, "consumer": consumer, "bytes": size}).encode() + b"\n"


def read_request(rfile, token: str) -> tuple[str, pa.Table] | None:
    """(consumer, batch) of the next request on ``rfile``; None at the end of the connection.

    Raises BatchRefused (the connection is then closed: its bytes can no longer be trusted to frame)."""
    line = rfile.readline(MAX_HEAD + 1)
    if not line:
        return None
    if len(line) > MAX_HEAD or not line.endswith(b"\n"):
        raise BatchRefused(f"request: a header line of at most {MAX_HEAD} bytes wanted")
    try:
        header = json.loads(line)
    except ValueError:
        raise BatchRefused("request: the header is not JSON") from None
    if not isinstance(header, dict):
        raise BatchRefused("request: the header is not a JSON object")
    given = header.get("token")
    # Compared in constant time; checked before anything else of the request is read.
    if not token or not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
        raise BatchRefused("request: wrong or missing token")
    size = header.get("bytes")
    if not isinstance(size, int) or not 0 < size <= MAX_BODY:
        raise BatchRefused(f"request: bytes must be 1 to {MAX_BODY} (a batch of {size} bytes refused)")
    consumer = header.get("consumer")
    if not isinstance(consumer, str) or not 0 < len(consumer) <= 200:
        raise BatchRefused("request: consumer must be a name")
    body = rfile.read(size)
    if len(body) != size:
        raise BatchRefused(f"request: {len(body)} of {size} bytes arrived")
    return consumer, decode(body)


def answer(result: dict) -> bytes:
    return json.dumps(result).encode() + b"\n"


class Unavailable(OSError):
    """The store owner did not answer (not running, unreachable, or it dropped the connection)."""


class Client:
    """A worker's connection to the store owner at ``address`` (host, port), opened when first needed."""

    def __init__(self, address: tuple[str, int], token: str, consumer: str):
        self.address, self.token, self.consumer = address, token, consumer
        self.sock: socket.socket | None = None
        self.rfile = None

    def send(self, batch: pa.Table) -> dict:
        """The owner's answer to ``batch``: ``{"stored": ...}``; raises BatchRefused or Unavailable."""
        body = encode(batch)
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=TIMEOUT_S)
                self.rfile = self.sock.makefile("rb")
            self.sock.sendall(head(self.token, self.consumer, len(body)))
            self.sock.sendall(body)
            line = self.rfile.readline(MAX_HEAD + 1)
        except OSError as exc:
            self.close()
            raise Unavailable(f"the store owner at {self.address[0]}:{self.address[1]}: {exc}") from None
        try:
            result = json.loads(line) if line else None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            self.close()
            raise Unavailable(f"the store owner at {self.address[0]}:{self.address[1]} gave no answer")
        if "error" in result:
            self.close()
            raise BatchRefused(str(result["error"]))
        return result

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = self.rfile = None
