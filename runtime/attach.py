"""Attaching a one-off container (``paas run``) to the developer's terminal through Redis.

The developer's CLI talks to the API; the container runs on some host. The two
meet in two Redis streams: ``<prefix>run:<id>:in`` (keystrokes, end of input,
signals, window size) and ``<prefix>run:<id>:out`` (what the container prints,
then an end marker). This relay, one process per attached run (``paas-runner
relay``), starts the created container with a terminal (or pipes) as its
stdio and moves bytes between them. It ends when the container's output ends.
A container the docker backend made is relayed through the engine's attach
stream instead (dockerattach.py).
"""

import base64
import fcntl
import os
import signal
import struct
import termios
import threading

from paas.contracts import redis_keys

from .container import Container

KEEP_S = 3600
MAX_ENTRIES = redis_keys.RUN_OUTPUT_MAXLEN
SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP, "QUIT": signal.SIGQUIT}


def keys(prefix: str, container_id: str) -> tuple[str, str]:
    return redis_keys.run_streams(prefix, container_id)


class Relay:
    def __init__(self, container: Container, redis, prefix: str, tty: bool):
        self.container = container
        self.redis = redis
        self.in_key, self.out_key = keys(prefix, container.id)
        self.tty = tty
        self.finished = threading.Event()

    def start(self) -> tuple[int, int]:
        """Start the container on a fresh terminal (or pipes); return (write fd, read fd) for our side."""
        if self.tty:
            master, slave = os.openpty()
            try:
                self.container.start(detach=True, stdin=slave, stdout=slave, stderr=slave)
            finally:
                os.close(slave)
            return master, master
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        try:
            self.container.start(detach=True, stdin=in_read, stdout=out_write, stderr=out_write)
        finally:
            os.close(in_read)
            os.close(out_write)
        return in_write, out_read

    def run(self) -> None:
        write_fd, read_fd = self.start()
        pump = threading.Thread(target=self.pump_input, args=(write_fd,), daemon=True)
        pump.start()
        try:
            self.pump_output(read_fd)
        finally:
            self.finished.set()
            self.redis.xadd(self.out_key, {"eof": "1"})
            for key in (self.in_key, self.out_key):
                self.redis.expire(key, KEEP_S)

    def pump_output(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every holder of the terminal's other side is gone
                return
            if not chunk:
                return
            self.redis.xadd(self.out_key, {"data": base64.b64encode(chunk)}, maxlen=MAX_ENTRIES, approximate=True)

    def pump_input(self, fd: int) -> None:
        last = "0-0"
        while not self.finished.is_set():
            for _, entries in self.redis.xread({self.in_key: last}, block=500) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    fd = self.apply({k.decode(): v for k, v in fields.items()}, fd)

    def apply(self, fields: dict, fd: int) -> int:
        """One input event; returns the fd to keep writing to (-1 once input has ended)."""
        if "data" in fields and fd >= 0:
            try:
                os.write(fd, base64.b64decode(fields["data"]))
            except OSError:
                return -1
        elif "eof" in fields and fd >= 0:
            if self.tty:
                os.write(fd, b"\x04")  # end of input on a terminal is Ctrl-D
            else:
                self.end_input(fd)
                return -1
        elif "signal" in fields:
            sig = SIGNALS.get(fields["signal"].decode())
            if sig is not None:
                self.container.signal(sig)
        elif "resize" in fields and self.tty and fd >= 0:
            rows, cols = (int(n) for n in fields["resize"].decode().split(","))
            self.resize(fd, rows, cols)
        return fd

    def end_input(self, fd: int) -> None:
        """The end of a piped run's input: its stdin pipe closed."""
        os.close(fd)

    def resize(self, fd: int, rows: int, cols: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
