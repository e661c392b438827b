"""Message-body framing readers, sans-io: consume bytes from a buffer, emit events.

Each ``next(buf, eof)`` takes what it can from the front of ``buf`` (a bytearray
the caller appends to) and returns Data, END or NEED_DATA. Chunked framing is
parsed strictly: a malformed size line, a missing CRLF after chunk data or an
oversized line is a framing error, never a guess.
"""

import re

from paas.router.protocol.events import END, NEED_DATA, Data

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_CHUNK_EXT = re.compile(rb"(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
                        rb"(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|\"[^\"\\\\]*\"))?)*")
MAX_LINE = 4096          # a chunk-size line (with extensions) or one trailer line
MAX_TRAILERS = 16384     # all trailer lines together (they are not forwarded)


class NoBody:
    done = True

    def next(self, buf, eof):
        return END


class LengthBody:
    """Exactly ``length`` bytes (Content-Length)."""

    def __init__(self, length: int, truncated):
        self.remaining = length
        self.truncated = truncated
        self.done = length == 0

    def next(self, buf, eof):
        if self.remaining == 0:
            self.done = True
            return END
        if not buf:
            if eof:
                raise self.truncated(f"body ended {self.remaining} bytes early")
            return NEED_DATA
        take = min(len(buf), self.remaining)
        data = buf[:take]
        del buf[:take]
        self.remaining -= take
        return Data(data)


class CloseBody:
    """Everything until the peer closes (responses without CL or chunked)."""

    done = False

    def next(self, buf, eof):
        if buf:
            data = bytes(buf)
            buf.clear()
            return Data(data)
        if eof:
            self.done = True
            return END
        return NEED_DATA


class ChunkedBody:
    """Transfer-Encoding: chunked, decoded; trailers are read and dropped."""

    def __init__(self, malformed, truncated):
        self.malformed = malformed
        self.truncated = truncated
        self.state = "size"
        self.remaining = 0
        self.trailer_bytes = 0
        self.done = False

    def next(self, buf, eof):
        while True:
            if self.state == "data":
                if not buf:
                    return self._more(eof)
                take = min(len(buf), self.remaining)
                data = buf[:take]
                del buf[:take]
                self.remaining -= take
                if self.remaining == 0:
                    self.state = "crlf"
                return Data(data)
            if self.state == "crlf":
                if len(buf) < 2:
                    return self._more(eof)
                if buf[:2] != b"\r\n":
                    raise self.malformed("chunk data not followed by CRLF")
                del buf[:2]
                self.state = "size"
                continue
            if self.state == "done":
                return END
            line = self._line(buf, eof)
            if line is None:
                return NEED_DATA
            if self.state == "size":
                self._size_line(line)
            elif self._trailer_line(line):
                return END

    def _trailer_line(self, line: bytes) -> bool:
        """Check one trailer line (they are dropped); True at the blank line that ends the body."""
        if line:
            self.trailer_bytes += len(line)
            if self.trailer_bytes > MAX_TRAILERS or b":" not in line or line[:1] in b" \t":
                raise self.malformed("bad trailer section")
            return False
        self.state = "done"
        self.done = True
        return True

    def _size_line(self, line: bytes) -> None:
        size, _, ext = line.partition(b";")
        if not _CHUNK_SIZE.fullmatch(size) or (ext and not _CHUNK_EXT.fullmatch(b";" + ext)):
            raise self.malformed("bad chunk size line")
        self.remaining = int(size, 16)
        self.state = "data" if self.remaining else "trailer"

    def _line(self, buf, eof):
        """One CRLF-terminated line off the buffer, or None if incomplete."""
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) > MAX_LINE:
                raise self.malformed("chunk line too long")
            if eof:
                raise self.truncated("body ended inside chunked framing")
            return None
        if end > MAX_LINE:
            raise self.malformed("chunk line too long")
        line = bytes(buf[:end])
        del buf[:end + 2]
        if b"\r" in line or b"\n" in line or b"\x00" in line:
            raise self.malformed("bare CR, LF or NUL in chunked framing")
        return line

    def _more(self, eof):
        if eof:
            raise self.truncated("body ended inside a chunk")
        return NEED_DATA
