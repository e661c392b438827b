"""The events of the sans-io HTTP/1.1 state (``http1.py``) that the asyncio layer handles."""

from paas.router.protocol.framing import Framing


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")   # feed more bytes, then ask again
END = _Sentinel("END")               # the message body is complete


class Data:
    """A piece of a message body (bytes or bytearray)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class Request:
    """A request head that passed the strict checks."""

    __slots__ = ("method", "target", "headers", "framing")

    def __init__(self, method: bytes, target: bytes, headers: list, framing: Framing):
        self.method = method
        self.target = target          # origin-form (absolute-form rewritten)
        self.headers = headers        # [(name, value)] as received, names' case kept
        self.framing = framing

    @property
    def has_body(self) -> bool:
        return self.framing.chunked or bool(self.framing.content_length)

    @property
    def is_upgrade(self) -> bool:
        """A protocol switch (WebSocket) request: Upgrade plus Connection: upgrade."""
        return b"upgrade" in self.framing.connection and any(
            name.lower() == b"upgrade" for name, _ in self.headers)


class ResponseHead:
    """An instance's response head that passed the strict checks."""

    __slots__ = ("status_code", "reason", "headers", "connection", "framing")

    def __init__(self, status_code: int, reason: bytes, headers: list | None = None,
                 connection: set | None = None, framing: Framing | None = None):
        self.status_code = status_code
        self.reason = reason
        self.headers = [] if headers is None else headers
        # Connection tokens when the checks read them
        self.connection = connection
        self.framing = framing
