"""TLS on an accepted connection: ``ssl.SSLObject`` over memory BIOs, as the transport its Channel sees.

The event loop's own TLS layer (``create_server(ssl=...)``, uvloop's SSLProtocol) costs the
router more than the cryptography itself, per request and per connection: every read of
application data ends in an ``SSLWantReadError`` that CPython builds with a formatted
message, each read reserves 256 KiB, and each connection arms a handshake timer and a
shutdown timer, delivers its first data one loop iteration later and, on close, keeps its
socket until the peer's close_notify arrives. Here a read stops when the memory BIO and
OpenSSL hold nothing more (no exception on the usual path), and a close sends close_notify
and closes the socket without waiting for the peer's (RFC 8446 6.1 does not ask the closer
to wait; nginx does not either).

``TLSLink`` is the protocol of the raw TCP connection and the transport of the Channel
above it (``Channel.connection_made`` runs once the handshake is done): the Channel's
``write``, ``close``, ``abort``, ``pause_reading`` and ``get_extra_info`` go through it, and
flow control from the socket (``pause_writing``) comes up through it. OpenSSL does all of
TLS (records, alerts, tickets, the SNI callback of the context); this module only moves
bytes between the socket, the BIOs and the Channel.
"""

import asyncio
import ssl

from paas.router.serving.channel import hold

READ_SIZE = 65536   # one TLS record is at most 16 KiB of plaintext: a read takes a few at once


class TLSLink(asyncio.Protocol):
    """One TLS server connection. ``app`` is the Channel it carries; the handshake has
    ``handshake_timeout`` seconds (the router's head deadline), then the socket is closed."""

    def __init__(self, context: ssl.SSLContext, app, handshake_timeout: float):
        self._context = context
        self._app = app
        self._handshake_timeout = handshake_timeout
        self._raw = None
        self._loop = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = None
        self._timer = None
        self._open = False        # the handshake is done and the Channel was told
        self._closing = False     # close() or abort() was called, or the socket is gone
        self._reading_paused = False
        self._eof = False         # the peer ended its side while reading was paused
        self._out = None          # TLS records held to the end of the loop iteration (channel.hold)

    # --- the raw connection's protocol callbacks ---------------------------------------

    def connection_made(self, raw) -> None:
        self._raw = raw
        self._loop = asyncio.get_running_loop()
        self._ssl = self._context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if not self._open and not self._handshake():
            return
        if not self._reading_paused:
            self._read()

    def eof_received(self) -> bool:
        # The peer's FIN (with or without its close_notify first): what it sent before is read.
        if self._open and not self._closing:
            if self._reading_paused:
                self._eof = True   # told once the Channel has read what came before it
            else:
                self._read()
                self._peer_done()
        else:
            self._close_raw()
        return True   # closed here (or by the Channel), never by the raw transport behind our back

    def connection_lost(self, exc) -> None:
        self._closing = True
        self._out = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        app, self._app = self._app, None   # no cycle left between the link and its Channel
        if self._open and app is not None:
            app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._open and self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._open and self._app is not None:
            self._app.resume_writing()

    # --- TLS -----------------------------------------------------------------------------

    def _handshake(self) -> bool:
        """Advance the handshake with what arrived; True once it is done (and the Channel told)."""
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except Exception:
            # Refused: garbage, an old protocol, an SNI this router does not serve (the SNI callback's
            # unrecognized_name). The alert OpenSSL wrote goes out before the close.
            self._flush()
            self._close_raw()
            return False
        self._flush()   # the server's last flight and session tickets
        self._timer.cancel()
        self._timer = None
        self._open = True
        self._app.connection_made(self)
        return not self._closing

    def _handshake_expired(self) -> None:
        self._timer = None
        if not self._open:
            self._close_raw()

    def _read(self) -> None:
        """Hand the Channel the application data the BIO holds, record by record batch."""
        incoming = self._incoming
        sslobj = self._ssl
        while True:
            try:
                data = sslobj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break   # a record not yet whole: the rest comes with the next read
            except ssl.SSLZeroReturnError:
                self._peer_done()
                return
            except ssl.SSLError:
                self._flush()   # OpenSSL's alert for the bad record
                self.flush()
                self.abort()
                return
            if not data:   # the peer's close_notify
                self._peer_done()
                return
            self._app.data_received(data)
            if self._closing or self._reading_paused:
                break
            if not incoming.pending and not sslobj.pending():
                break   # nothing left: stop without the exception a further read would raise
        if self._outgoing.pending and not self._closing:
            self._flush()   # e.g. the answer to a KeyUpdate

    def _peer_done(self) -> None:
        """The peer ended its side (close_notify or FIN): the Channel decides, a False is a close."""
        app = self._app
        if app is None or self._closing:
            return
        if not app.eof_received():
            self.close()

    def _flush(self) -> None:
        """What OpenSSL wrote (a handshake flight, tickets, an alert) goes out with this iteration's writes."""
        outgoing = self._outgoing
        if outgoing.pending:
            self._send(outgoing.read())

    def _send(self, records: bytes) -> None:
        # Records go out in the order OpenSSL made them: behind any held ones.
        out = self._out
        if out is not None:
            out.append(records)
        elif hold(self, self._loop):
            self._out = [records]
        elif not self._raw.is_closing():
            self._raw.write(records)

    def flush(self) -> None:
        """Send the held records now (channel.hold calls it at the end of the iteration)."""
        out = self._out
        if out is None:
            return
        self._out = None
        raw = self._raw
        if raw is not None and not raw.is_closing():
            raw.write(out[0] if len(out) == 1 else b"".join(out))

    def _close_raw(self) -> None:
        self._closing = True
        self.flush()   # an alert OpenSSL wrote goes out first
        if self._raw is not None:
            self._raw.close()

    # --- the transport the Channel sees ------------------------------------------------------

    def write(self, data) -> None:
        if not data or self._closing:
            return
        self._ssl.write(data)
        records = self._outgoing.read()
        if self._out is None:
            self._raw.write(records)   # the Channel holds its writes already (Channel.write)
        else:
            self._out.append(records)

    def writelines(self, chunks) -> None:
        self.write(b"".join(chunks))

    def close(self) -> None:
        """close_notify, then the socket (its unsent bytes still go out); the peer's is not awaited."""
        if self._closing:
            return
        self._closing = True
        if self._open:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass   # the peer's close_notify has not come: not waited for
            except ValueError:
                pass
            self._flush()
        self.flush()
        self._raw.close()

    def abort(self) -> None:
        self._closing = True
        self._out = None
        if self._raw is not None:
            self._raw.abort()

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def can_write_eof(self) -> bool:
        return False   # a close_notify ends both directions for most clients: no half-close over TLS

    def write_eof(self) -> None:
        raise NotImplementedError("TLS connections do not half-close")

    def pause_reading(self) -> None:
        self._reading_paused = True
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        self._raw.resume_reading()
        if self._eof or self._incoming.pending or (self._ssl is not None and self._ssl.pending()):
            # Records that arrived before the pause: delivered from the loop, as a read would be.
            self._loop.call_soon(self._read_held)

    def _read_held(self) -> None:
        if self._open and not self._closing and not self._reading_paused:
            self._read()
            if self._eof and not self._reading_paused:
                self._peer_done()

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        self._raw.set_write_buffer_limits(high=high, low=low)

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_extra_info(self, name, default=None):
        if name == "sslcontext":
            return self._context
        if name == "ssl_object":
            return self._ssl
        if name == "cipher":
            return self._ssl.cipher()
        return self._raw.get_extra_info(name, default)
