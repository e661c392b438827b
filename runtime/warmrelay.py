"""A relay started ahead of need, so an attached ``paas run`` does not wait for an interpreter.

The relay of an attached one-off (attach.py) is a process of its own that outlives the agent.
Started on demand it costs a new interpreter importing Redis' client: a few hundred
milliseconds before the first byte of the run's output, which the developer waits for (and
the most of what the agent adds to a run). So the agent keeps one relay started and waiting
on its stdin; a run hands it the container's id and the next one starts warming at once. A
waiting relay whose agent is gone reads the end of its stdin and exits. Handed or cold, a
relay runs in a session of its own, like the container it serves.
"""

import os
import subprocess
import sys
import threading


class WarmRelay:
    """One relay process waiting for a run; ``hand`` gives it one and starts the next."""

    def __init__(self):
        self.lock = threading.Lock()
        self.waiting: subprocess.Popen | None = None
        self.spawned_env: dict | None = None  # the environment the waiting relay took (its settings)

    def _current(self) -> subprocess.Popen | None:
        """The waiting relay, if it is alive and took the settings in force now; any other is ended.
        (An agent's environment does not change, but a process running several agents in turn,
        as the tests do, must not hand one agent's run to a relay holding another's data dir.)"""
        relay = self.waiting
        if relay is not None and relay.poll() is None and self.spawned_env == dict(os.environ):
            return relay
        if relay is not None:
            relay.stdin.close()
            relay.kill()
            relay.wait()
        self.waiting = None
        return None

    @staticmethod
    def _spawn() -> subprocess.Popen:
        # -P: the agent's working directory is not a place to import from.
        return subprocess.Popen([sys.executable, "-P", "-m", "paas.runtime.warmrelay"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True)

    def prepare(self) -> None:
        """Have one relay waiting (the agent's start-up; after that each hand-over starts the next)."""
        with self.lock:
            if self._current() is None:
                self.waiting, self.spawned_env = self._spawn(), dict(os.environ)

    def hand(self, container_id: str, tty: bool) -> None:
        """Relay the created container ``container_id``: start it attached to its Redis streams."""
        with self.lock:
            relay, self.waiting = self._current(), None
        line = f"{container_id} {'tty' if tty else 'pipe'}\n".encode()
        for attempt in range(2):
            if relay is None or relay.poll() is not None:
                relay = self._spawn()  # none waiting, or it died: a cold one
            try:
                relay.stdin.write(line)
                relay.stdin.close()
                break
            except (BrokenPipeError, ValueError):
                relay = None
        self.prepare()


def main() -> int:
    # Everything a run needs is imported before waiting: that is the point of waiting.
    import redis  # noqa: F401

    from . import config, container, relaymain  # noqa: F401

    if config.RUNTIME_BACKEND == "docker":
        import docker  # noqa: F401 (the docker backend's runs attach through the engine's client)

    line = sys.stdin.readline().split()
    if len(line) != 2 or line[1] not in ("tty", "pipe"):
        return 0  # the agent went away (or stopped) before handing a run
    os.close(0)
    return relaymain.main(line[0], tty=line[1] == "tty")


if __name__ == "__main__":
    sys.exit(main())
