"""Protocol-neutral events shared by both sans-io implementations.

``fastproto`` (the default) and ``h11proto`` (h11 underneath) produce and accept
exactly these, so the asyncio layer does not know which one it drives.
"""

from dataclasses import dataclass, field

from paas.router.framing import Framing


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


@dataclass(slots=True)
class Request:
    """A request head that passed the strict checks."""

    method: bytes
    target: bytes                 # origin-form (absolute-form rewritten)
    headers: list                 # [(name, value)] as received, names' case kept
    framing: Framing

    @property
    def has_body(self) -> bool:
        return self.framing.chunked or bool(self.framing.content_length)

    @property
    def is_upgrade(self) -> bool:
        """A protocol switch (WebSocket) request: Upgrade plus Connection: upgrade."""
        return b"upgrade" in self.framing.connection and any(
            name.lower() == b"upgrade" for name, _ in self.headers)


@dataclass(slots=True)
class ResponseHead:
    status_code: int
    reason: bytes
    headers: list = field(default_factory=list)
    connection: set | None = None   # Connection tokens when the strict check read them
