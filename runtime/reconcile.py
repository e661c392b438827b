"""The agent's decision: desired instances + actual containers -> actions. Plain code, no I/O.

Level-triggered: the same inputs always give the same actions, so a lost
message or a restarted agent only delays convergence.
"""

import hashlib
import json
from dataclasses import dataclass, field

BACKOFF_BASE = 1.0    # seconds before the first restart after a crash
BACKOFF_CAP = 60.0    # the longest wait between restarts


@dataclass(frozen=True)
class Desired:
    """One instance the control plane wants running on this host."""

    name: str
    app: str
    release: str                 # "v3"
    process: str                 # "web.1"
    command: str
    image: str                   # sha256:... digest of the slug
    stack: str = "host"
    env: tuple[tuple[str, str], ...] = ()
    memory_mb: int = 256
    cpus: float = 1.0
    restarts: int = 0
    last_exit_at: float | None = None   # when it last ended (epoch seconds), for backoff
    once: bool = False                  # a one-off (paas run): never restarted, ends when it exits
    attach: str = ""                    # "tty" or "pipe": started by a relay to the developer's terminal
    health_path: str = ""               # web: an HTTP path that must answer 2xx/3xx (checked, not fingerprinted)
    # The App's primary key: its host uid is derived from it (identity.app_uid). Not fingerprinted:
    # an app never changes it, and instances started before per-app uids are adopted, not replaced.
    app_id: int = 0
    egress: bool = True                 # may open connections out (paas egress); applied in place, not fingerprinted
    # Add-on servers (services/): no slug (image ""), a host uid of their own, persistent
    # volumes ((name, size in bytes, destination), runtime/volumes.py), and who may connect:
    # expose = (port in the container, host port), allow_apps = the attached apps (runtime/addonnet.py).
    uid: int = 0
    volumes: tuple[tuple[str, int, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()   # read-only host dirs (source, destination), when they exist
    expose: tuple[int, int] | None = None
    also_expose: tuple[tuple[int, int], ...] = ()   # more (container port, host port) pairs: Redis's TLS port
    allow_apps: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()   # other hosts running attached apps' containers (runtime/addonnet.py)
    layers: tuple[str, ...] = ()        # read-only host dirs over the stack: a Debian stack's server packages
    frozen: bool = False                # asleep (runtime/sleep.py); applied in place, not fingerprinted

    @property
    def fingerprint(self) -> str:
        """What makes two runs of an instance the same; a change means replace."""
        key = [self.release, self.command, self.image, self.stack, sorted(self.env), self.memory_mb, self.cpus]
        if self.volumes or self.expose:
            key += [list(self.volumes), list(self.expose or ())]
        if self.also_expose:  # only when set: servers made before it keep their fingerprint
            key += [[list(pair) for pair in self.also_expose]]
        if self.layers:  # likewise
            key += [list(self.layers)]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Actual:
    """One agent-managed container found on this host."""

    name: str
    running: bool
    fingerprint: str = ""


@dataclass(frozen=True)
class Action:
    kind: str        # start | stop | collect | observe
    name: str
    reason: str = ""
    desired: Desired | None = field(default=None, compare=False)


def backoff(restarts: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before restart number `restarts` (0 = first start: no wait)."""
    if restarts <= 0:
        return 0.0
    return min(cap, base * 2 ** (restarts - 1))


def decide(desired: list[Desired], actual: list[Actual], now: float) -> list[Action]:
    """The actions that move this host from `actual` towards `desired`."""
    wanted = {d.name: d for d in desired}
    have = {a.name: a for a in actual}
    actions: list[Action] = []
    for name, a in sorted(have.items()):
        d = wanted.get(name)
        if not a.running:
            actions.append(Action("collect", name, "exited" if d else "exited and not desired", d))
        elif d is None:
            actions.append(Action("stop", name, "not desired on this host"))
        elif d.fingerprint != a.fingerprint:
            actions.append(Action("stop", name, "desired definition changed", d))
        else:
            actions.append(Action("observe", name, "", d))
    for name, d in sorted(wanted.items()):
        if name in have:
            continue
        wait = backoff(d.restarts)
        if d.last_exit_at is not None and now < d.last_exit_at + wait:
            continue  # crashed recently: the restart waits for its backoff
        actions.append(Action("start", name, "restart" if d.restarts else "new", d))
    return actions
