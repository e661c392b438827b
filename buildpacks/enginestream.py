"""The JSON message stream of a Docker engine request (a build, a push, a pull): read on a thread of its own,
taken with the build's deadline and cancel, cut by shutting its socket (the engine stops what the request
started when its client goes). Messages are capped: the engine's output is the tenant's."""

import queue
import socket
import threading
import time

from . import dockerfile
from .errors import BuildCancelled, BuildTimeout

MAX_LINE = 4000                     # a longer output line is cut (a step printing a megabyte on one line)
MAX_MESSAGE = 4 << 20               # a message of the stream without its end of line yet
CANCEL_POLL_S = 0.2


def start_reading(response) -> tuple[queue.Queue, threading.Thread]:
    """The request's messages onto a queue from a thread of their own (so waiting for them keeps the
    deadline and the cancel): the queue and the thread, to join once the request is cut."""
    events = queue.Queue()
    reader = threading.Thread(target=read_events, args=(response, events), daemon=True)
    reader.start()
    return events, reader


def read_events(response, events: queue.Queue) -> None:
    """The build's JSON messages, one per line, onto `events`; None at the end."""
    pending = b""
    try:
        for data in response.iter_content(chunk_size=None):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    events.put(line)
            if len(pending) > MAX_MESSAGE:
                events.put(pending[:MAX_LINE])
                pending = b""
        if pending.strip():
            events.put(pending)
    except Exception:  # cut (timeout, cancel) or the engine gone: the caller decides which
        events.put(b'{"error": "the Docker engine stopped answering"}')
    events.put(None)


def next_message(events: queue.Queue, deadline: float, cancel, timeout: float) -> bytes | None:
    """The next message of the build (None at its end), waiting no longer than the deadline or a cancel."""
    while True:
        if cancel is not None and cancel.is_set():
            raise BuildCancelled("the build was cancelled")
        left = deadline - time.monotonic()
        if left <= 0:
            raise BuildTimeout(f"the {dockerfile.FILE_NAME} build ran longer than {timeout:.0f} s and was stopped")
        try:
            return events.get(timeout=min(left, CANCEL_POLL_S) if cancel is not None else left)
        except queue.Empty:
            continue


def cut(response) -> None:
    """End the build's request now: the socket shut (which wakes the reader), so the engine stops
    the build and removes its step's container."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()
