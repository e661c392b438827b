"""Channel writes held to the end of a busy event-loop iteration (serving/channel.py), over real sockets."""

import asyncio
import socket

import uvloop

from paas.router.serving import channel
from paas.router.serving.channel import Channel


class _Writer:
    def __init__(self, log, name):
        self.log, self.name = log, name

    def flush(self):
        self.log.append(self.name)


def test_a_quiet_loop_writes_at_once_and_a_busy_one_holds_to_the_end_of_the_iteration():
    async def main():
        loop = asyncio.get_running_loop()
        log = []
        assert not any([channel.hold(_Writer(log, i), loop) for i in range(channel.BUSY_WRITES)])
        await asyncio.sleep(0)   # that iteration made BUSY_WRITES writes: the next one holds
        assert channel.hold(_Writer(log, "a"), loop) and channel.hold(_Writer(log, "b"), loop)
        assert log == []
        await asyncio.sleep(0)
        assert log == ["a", "b"]  # two writes: quiet again
        assert not channel.hold(_Writer(log, "c"), loop)

    asyncio.run(main(), loop_factory=uvloop.new_event_loop)


def _recv_all(sock, n):
    out = b""
    while len(out) < n:
        out += sock.recv(65536)
    return out


class _Busy:
    """BUSY_WRITES connections of the loop's own, each written to in every iteration: the loop stays busy."""

    async def open(self, loop):
        self.pairs = [socket.socketpair() for _ in range(channel.BUSY_WRITES)]
        self.channels = [(await loop.connect_accepted_socket(Channel, ours))[1] for ours, _ in self.pairs]
        return self

    async def iteration(self):
        for ch in self.channels:
            ch.write(b".")
        await asyncio.sleep(0)

    def close(self):
        for ch in self.channels:
            ch.abort()
        for ours, peer in self.pairs:
            peer.close()


def test_held_writes_go_out_in_order_in_one_piece_and_before_a_close():
    async def main():
        loop = asyncio.get_running_loop()
        busy = await _Busy().open(loop)
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        _, ch = await loop.connect_accepted_socket(Channel, ours)
        await busy.iteration()   # the loop is busy from here on
        ch.write(b"one ")
        ch.write(b"two ")
        try:
            peer.recv(100)
            raise AssertionError("a held write went out before the iteration ended")
        except BlockingIOError:
            pass
        await busy.iteration()
        peer.setblocking(True)
        assert peer.recv(100) == b"one two "
        big = b"x" * (channel.HOLD_MAX + 1)
        ch.write(b"small ")
        ch.write(big)             # behind a held write: stays behind it
        ch.write(b"last")
        ch.close()                # held writes go before the close
        await busy.iteration()
        assert _recv_all(peer, 6 + len(big) + 4) == b"small " + big + b"last"
        await asyncio.sleep(0.05)
        assert peer.recv(100) == b""
        peer.close()
        busy.close()

    asyncio.run(main(), loop_factory=uvloop.new_event_loop)


def test_an_abort_drops_held_writes():
    async def main():
        loop = asyncio.get_running_loop()
        busy = await _Busy().open(loop)
        await busy.iteration()
        ours, peer = socket.socketpair()
        _, ch = await loop.connect_accepted_socket(Channel, ours)
        await busy.iteration()
        ch.write(b"never sent")
        ch.abort()
        await asyncio.sleep(0.05)
        peer.settimeout(2)
        try:
            assert peer.recv(100) == b""
        except ConnectionResetError:
            pass
        peer.close()
        busy.close()

    asyncio.run(main(), loop_factory=uvloop.new_event_loop)


def test_each_loop_keeps_its_own_iteration_and_a_closed_loop_is_not_kept_alive():
    """The write iteration is found through a cache of the last loop asked about (a worker has one):
    a second loop gets its own, a write on the first one again finds the first's, and neither the
    cache nor the table keeps a closed, dropped loop alive (each test's loop, a restarted worker's)."""
    import gc
    import weakref

    first = uvloop.new_event_loop()
    second = uvloop.new_event_loop()
    log = []
    try:
        a = channel._iteration(first)
        b = channel._iteration(second)
        assert a is not b
        assert channel._iteration(first) is a and channel._iteration(second) is b
        # Busy on the first loop only: the second stays quiet.
        a.busy = True
        assert channel.hold(_Writer(log, "held"), first)
        assert not channel.hold(_Writer(log, "at once"), second)
        first.run_until_complete(asyncio.sleep(0))   # the first loop's iteration ends: its write goes
        assert log == ["held"]
        assert channel._iteration(first) is a   # the loop asked about last: the one the cache holds
        first.run_until_complete(asyncio.sleep(0))
    finally:
        first.close()
        second.close()
    gone = weakref.ref(first)
    del first, a
    gc.collect()
    assert gone() is None
