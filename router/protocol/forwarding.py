"""Header rewriting between client and instance (RFC 9110 section 7.6).

Hop-by-hop headers describe one connection and must not cross the proxy; the
X-Forwarded-* set is overwritten rather than trusted, except X-Forwarded-For,
which is appended to as Heroku does.
"""

import os

from paas.router.protocol.framing import _REQUEST_ID

# RFC 9110 7.6.1 plus the de facto ones (Keep-Alive, Proxy-Connection).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization",
})
# Set by the router, never passed through from the client.
REPLACED = frozenset({
    b"host", b"x-forwarded-proto", b"x-forwarded-port", b"x-forwarded-host",
    b"x-request-id", b"expect", b"content-length",
})
_DROP_REQUEST = HOP_BY_HOP | REPLACED
_HSTS = frozenset({b"strict-transport-security"})
VIA = b"1.1 paas-router"


def connection_tokens(headers) -> set[bytes]:
    """Header names listed in Connection: they are hop-by-hop too."""
    tokens = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return tokens


class _RequestIds:
    """Random (version 4) UUID strings, made 256 at a time from one read of kernel randomness.

    str(uuid.uuid4()) costs a getrandom call and a UUID object per request; here a
    request pops a ready string. A forked worker starts with none, so no two workers
    hand out the same ids (see ``forget``).
    """

    BATCH = 256

    def __init__(self):
        self._ids: list[str] = []

    def __call__(self) -> str:
        ids = self._ids
        if not ids:
            ids = self._ids = self._batch()
        return ids.pop()

    def _batch(self) -> list[str]:
        n = self.BATCH
        raw = bytearray(os.urandom(16 * n))
        # Version 4 in the high nibble of byte 6, variant 10xx in the high bits of byte 8 (RFC 9562),
        # set for the whole batch at once.
        raw[6::16] = raw[6::16].translate(_VERSION_4)
        raw[8::16] = raw[8::16].translate(_VARIANT_10)
        # Each id's 32 hex digits are moved to their places in its 36 characters, one digit position
        # of the whole batch per strided copy (32 copies in C for 256 ids: a regex substitution per id
        # cost 8 times as much).
        digits = raw.hex().encode()
        text = bytearray(b"-" * (36 * n))
        for i, at in enumerate(_DIGIT_AT):
            text[at::36] = digits[i::32]
        text = text.decode()
        return [text[i:i + 36] for i in range(0, 36 * n, 36)]

    def forget(self) -> None:
        self._ids = []


_VERSION_4 = bytes(b & 0x0F | 0x40 for b in range(256))
_VARIANT_10 = bytes(b & 0x3F | 0x80 for b in range(256))
# Where hex digit i of a UUID goes in its text: 8-4-4-4-12 digits, dashes between the groups.
_DIGIT_AT = [i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)]
new_request_id = _RequestIds()
os.register_at_fork(after_in_child=new_request_id.forget)


def request_id_for(framing) -> str:
    """``request_id`` of a checked head: the checks already found the sane one."""
    rid = framing.request_id
    return rid.decode("ascii") if rid else new_request_id()


def request_id(headers) -> str:
    """The client's X-Request-Id when it is a sane one, else a new one."""
    for name, value in headers:
        if name.lower() == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return new_request_id()


def request_headers(req, client_ip: str, port: int, rid: str, upgrade: bool, tls: bool = False) -> list:
    """Headers to send to the instance for a validated client request (``tls``: it came over TLS)."""
    raw = req.headers
    f = req.framing
    # The strict check already read the Connection tokens (lowercased, trimmed).
    # A set union per request only when Connection names fields beyond the dropped ones.
    tokens = f.connection
    drop = _DROP_REQUEST if not tokens or tokens <= _DROP_REQUEST else _DROP_REQUEST | tokens
    out = [(b"Host", f.host)]
    forwarded_for = b""
    via = VIA
    # A field passed on is its (name, value) pair as parsed, not a new one.
    for lname, field in zip(f.names, raw):
        if lname == b"x-forwarded-for":
            forwarded_for = forwarded_for + b", " + field[1] if forwarded_for else field[1]
        elif lname == b"via":
            via = field[1] + b", " + VIA
        elif lname not in drop:
            out.append(field)
    ip = client_ip.encode()
    # One extend rather than six appends: this runs once per request.
    out += ((b"X-Forwarded-For", forwarded_for + b", " + ip if forwarded_for else ip),
            (b"X-Forwarded-Proto", b"https" if tls else b"http"),
            (b"X-Forwarded-Port", b"%d" % port),
            (b"X-Forwarded-Host", f.host),
            (b"X-Request-Id", rid.encode()),
            (b"Via", via))
    # Framing is regenerated from what the strict check accepted; the
    # protocol layer then writes normalised CL or chunked framing.
    if f.chunked:
        out.append((b"Transfer-Encoding", b"chunked"))
    elif f.content_length is not None:
        out.append((b"Content-Length", b"%d" % f.content_length))
    if upgrade:
        out.append((b"Connection", b"upgrade"))
        out.extend((n, v) for n, v in raw if n.lower() == b"upgrade")
    return out


def response_headers(event, upgrade: bool = False, hsts: bytes | None = None) -> list:
    """Headers to send to the client for an instance's response head.

    ``hsts``: the app's HSTS setting (paas https:hsts) replaces whatever the instance sent, so the
    policy users set is the one browsers get."""
    raw = event.headers
    tokens = connection_tokens(raw) if event.connection is None else event.connection
    # "keep-alive" names a field dropped anyway: no set union for it (once per response).
    drop = HOP_BY_HOP if not tokens or tokens <= HOP_BY_HOP else HOP_BY_HOP | tokens
    if hsts is not None:
        drop = drop | _HSTS
    out = []
    via = VIA
    f = event.framing
    names = f.names if f is not None else [name.lower() for name, _ in raw]
    for lname, field in zip(names, raw):
        if lname == b"via":
            via = field[1] + b", " + VIA
        elif lname not in drop:
            out.append(field)
    out.append((b"Via", via))
    if hsts is not None:
        out.append((b"Strict-Transport-Security", hsts))
    if upgrade:
        out.append((b"Connection", b"upgrade"))
        out.extend((n, v) for n, v in raw if n.lower() == b"upgrade")
    return out
