"""One TCP connection as an asyncio Protocol, for both sides of the proxy.

A ``Channel`` delivers received bytes in one of two ways, chosen at any moment
by its owner:

- callback mode (``on_data`` set): each chunk goes straight to ``on_data`` from
  the event loop, with ``b""`` at EOF. The keep-alive fast path runs this way,
  with no task, future or StreamReader per request.
- read mode (``on_data`` None): chunks are buffered and a coroutine takes them
  with ``await read()``, as from an asyncio StreamReader. Bodies, tunnels and
  error pages run this way.

It also quacks like a StreamWriter (``write``, ``drain``, ``close``,
``write_eof``, ``get_extra_info``, ``transport``) so the coroutine code does not
care which it has. ``set_deadline`` is a lazily re-armed timer: moving a
deadline later (every keep-alive request does) costs an assignment, not a
timer cancel and re-schedule. While the worker is busy, small writes are held
to the end of the loop iteration and sent in one write per connection (``hold``).
"""

import asyncio
import weakref

from paas.router.serving import scheme

# Above this many unsent bytes the transport pauses us (``paused``) and
# ``drain`` waits; below it writers keep going without waiting per chunk.
HIGH_WATER = 256 * 1024
# Bytes buffered in read mode before the socket stops being read
# (backpressure towards a sender faster than its consumer).
READ_LIMIT = 256 * 1024
# Writes are held to the end of the loop iteration (Channel.write) only while the worker is busy:
# when the last iteration that wrote wrote to at least BUSY_WRITES connections. A quiet worker writes at once, as a
# held write waits for every other request of its iteration (added latency under light load).
BUSY_WRITES = 16
# Writes over this size (a streamed body) go at once: measured, holding them halved the 1 MB
# stream's rate.
HOLD_MAX = 16 * 1024


class _Iteration:
    """One event loop's writes of its current iteration (one loop per worker; tests: per thread)."""

    __slots__ = ("held", "writes", "busy", "scheduled")

    def __init__(self):
        self.held = []          # writers holding data, flushed when the iteration's callbacks are done
        self.writes = 0         # connections written to this iteration (held or not)
        self.busy = False       # the last iteration wrote to BUSY_WRITES connections or more: hold
        self.scheduled = False


# Weak: a loop that is closed and dropped (each test's, a restarted worker's) takes its entry with it.
_iterations: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Iteration]" = weakref.WeakKeyDictionary()


# The loop asked about last and its _Iteration: a worker has one loop, and a WeakKeyDictionary
# lookup is Python code that every write would pay for. The loop is held weakly here too.
_recent: tuple = (lambda: None, None)


def _iteration(loop) -> _Iteration:
    global _recent
    ref, it = _recent
    if ref() is not loop:
        it = _iterations.get(loop)
        if it is None:
            it = _iterations[loop] = _Iteration()
        _recent = (weakref.ref(loop), it)
    if not it.scheduled:
        it.scheduled = True
        loop.call_soon(_end_iteration, it)
    return it


def hold(writer, loop) -> bool:
    """Hold ``writer``'s output (its ``flush()`` is called when this loop iteration's callbacks are
    done) if the worker is busy; False: it is quiet, write at once."""
    it = _iteration(loop)
    it.writes += 1
    if it.busy:
        it.held.append(writer)
        return True
    return False


def _end_iteration(it: _Iteration) -> None:
    held, it.held = it.held, []
    it.busy = it.writes >= BUSY_WRITES
    it.writes = 0
    it.scheduled = False
    for writer in held:
        writer.flush()


class Channel(asyncio.Protocol):
    def __init__(self, on_open=None, local_port: int = 0):
        self.transport = None
        self.on_open = on_open      # called with the channel once connected
        # The listening port of an accepted connection, known to the server that makes the
        # channel: asking the socket (getsockname) on every connection would say the same.
        self.local_port = local_port
        self.tls = False            # TLS under this connection (scheme.transport_is_tls)
        self.on_data = None         # callback mode: chunk, b"" at EOF
        self.on_lost = None         # callback mode: connection gone (exception or None)
        self.on_resume = None       # called when the peer has read our backlog
        self.paused = False         # the transport holds over HIGH_WATER unsent
        self.closed = False         # connection_lost was called
        self.eof = False
        self._exc = None
        self._chunks = []
        self._buffered = 0
        self._reading_paused = False
        self._waiter = None
        self._drain_waiter = None
        self._loop = None
        self._timer = None
        self._timer_at = 0.0
        self._deadline = None
        self._on_timeout = None
        self._half_close = True
        self._out = None            # writes held until the loop's callbacks of this iteration are done

    # --- Protocol callbacks ----------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.tls = scheme.transport_is_tls(transport)
        self._half_close = not self.tls
        self._loop = asyncio.get_running_loop()
        transport.set_write_buffer_limits(high=HIGH_WATER)
        if self.on_open is not None:
            self.on_open(self)

    def data_received(self, data: bytes) -> None:
        on_data = self.on_data
        if on_data is not None:
            on_data(data)
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > READ_LIMIT and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        if self.on_data is not None:
            self.on_data(b"")
        else:
            self._wake()
        # Keep the write side open: a client that half-closes after its
        # request still gets the response. TLS has no half-close (close_notify
        # ends both ways), and asyncio warns on every connection if asked.
        return self._half_close

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._out = None
        self.eof = True
        self._exc = exc
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))
        self._drain_waiter = None
        if self.on_lost is not None:
            self.on_lost(exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None
        if self.on_resume is not None:
            self.on_resume()

    # --- reading (read mode) ---------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self, n: int = -1) -> bytes:
        """Whatever has arrived (waiting for something); b"" at EOF."""
        if not self._chunks and not self.eof:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._chunks:
            return self.take_buffered()
        if self._exc is not None:
            raise ConnectionResetError(str(self._exc))
        return b""

    def take_buffered(self) -> bytes:
        """Everything received in read mode and not yet read."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._reading_paused and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    @property
    def buffered(self) -> int:
        return self._buffered

    def at_eof(self) -> bool:
        return self.eof and not self._chunks

    # --- writing -----------------------------------------------------------------

    def write(self, data) -> None:
        """Send ``data`` once the callbacks of this loop iteration are done, in one write per channel.

        A write to a local peer wakes it, and the kernel then often hands it the core at once: a
        busy router writing as it goes is put off the core about once per request. Held to the end
        of the iteration (while busy, see ``hold``), the writes of every request the iteration
        handled go out together.
        """
        out = self._out
        if out is None:
            if len(data) > HOLD_MAX or not hold(self, self._loop):
                self.transport.write(data)
                return
            self._out = [data]
        else:
            out.append(data)

    def flush(self) -> None:
        """Send the held writes now."""
        out = self._out
        if out is None:
            return
        self._out = None
        if not self.closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def backlog(self) -> int:
        """Bytes written and not yet taken by the socket (the held writes are sent first)."""
        self.flush()
        return self.transport.get_write_buffer_size()

    async def drain(self) -> None:
        """Wait while the peer has more than HIGH_WATER unread; raise if it is gone."""
        self.flush()
        if self.closed:
            raise ConnectionResetError("connection lost")
        if not self.paused:
            return
        self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    def write_eof(self) -> None:
        # TLS cannot half-close (a close_notify ends both directions): there the unread rest is only read.
        self.flush()
        if not self.transport.is_closing() and self.transport.can_write_eof():
            self.transport.write_eof()

    def get_extra_info(self, name, default=None):
        return self.transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping unsent bytes (a peer that does not read)."""
        self._out = None
        if self.transport is not None:
            self.transport.abort()

    # --- one deadline, lazily re-armed ------------------------------------------------

    def set_deadline(self, when: float, on_timeout) -> None:
        """Call ``on_timeout()`` at loop time ``when`` unless moved or cleared first."""
        if self.closed:
            return
        self._deadline = when
        self._on_timeout = on_timeout
        if self._timer is None or when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._fire)

    def clear_deadline(self) -> None:
        # The armed timer stays and finds nothing to do: cheaper than
        # cancelling it when the next deadline is set moments later.
        self._deadline = None
        self._on_timeout = None

    def _fire(self) -> None:
        self._timer = None
        when = self._deadline
        if when is None:
            return
        if self._loop.time() < when:
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._fire)
            return
        on_timeout = self._on_timeout
        self._deadline = None
        self._on_timeout = None
        on_timeout()
