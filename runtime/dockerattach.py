"""The relay of an attached one-off (attach.py) that the docker backend made: the engine's attach stream.

The backend creates the container with its stdin open (stdin_once) and, for a tty run, a terminal of the
engine's (dockerbackend.attached); its instance directory names the engine (ENGINE_MARK). The relay takes
the attach stream before the start, so nothing printed is missed, and then moves the same Redis streams as
for a native run: keystrokes written to the stream, a piped run's end of input a half-close of it (the
engine then closes the container's stdin), the output read from it (a piped run's framed by the engine
into stdout and stderr records), the window's size through the engine's resize, signals to the
container's init as for any docker instance. The stream ends when the container exits.
"""

import base64
import json
import socket

from . import config
from .attach import MAX_ENTRIES, Relay
from .container import instance_dir


def engine_of(container_id: str) -> str:
    """The engine that runs instance `container_id` ("" for a native one)."""
    from .dockerbackend import ENGINE_MARK

    try:
        mark = json.loads((instance_dir(container_id) / ENGINE_MARK).read_text())
    except (OSError, ValueError):
        return ""
    return str(mark.get("engine") or config.docker_host()) if isinstance(mark, dict) else ""


def load(engine: str, container_id: str):
    """The docker backend's instance `container_id` on `engine`."""
    from .dockerbackend import DockerBackend

    return DockerBackend(base_url=engine).load(container_id)


class EngineRelay(Relay):
    """A Relay whose container's stdio is the engine's attach stream."""

    sock = raw = None

    def start(self) -> tuple[int, int]:
        self.sock, self.raw = self.container.attach_stream()
        self.container.start()
        fd = self.raw.fileno()
        return fd, fd

    def pump_output(self, fd: int) -> None:
        from docker.utils.socket import frames_iter

        try:
            for _, chunk in frames_iter(self.sock, self.tty):
                if chunk:
                    self.redis.xadd(self.out_key, {"data": base64.b64encode(chunk)}, maxlen=MAX_ENTRIES,
                                    approximate=True)
        except OSError:
            return  # the engine went away: the output ends here

    def end_input(self, fd: int) -> None:
        try:
            self.raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the container has ended already

    def resize(self, fd: int, rows: int, cols: int) -> None:
        import docker.errors

        try:
            self.container.api.resize(self.container.id, height=rows, width=cols)
        except docker.errors.APIError:
            pass  # ended meanwhile
