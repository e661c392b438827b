"""The agent's side of apps asleep: freeze what Platform Control marks frozen, thaw at once on a request.

Platform Control marks an idle app's web instances ``frozen`` (platform/control/sleep.py) once the
router's table says so, so a router always knows to send the wake before its request. The agent
freezes them (runtime/freezer.py) and no longer health-checks them: frozen is asleep, not crashed.
The router publishes the app's name on ``<prefix>router:wake`` when a request for it arrives; the
agent's listener thaws that app's frozen instances then and there, without waiting for the
database, which Platform Control clears on the same message. For ``THAW_GRACE_S`` after such a
wake the agent keeps the app thawed whatever the database still says.

Memory pressure: while the host's available memory is below PAAS_FREEZE_MIN_AVAILABLE_MB the agent
keeps ``<prefix>agent:pressure:<host>`` set (expiring, so a dead agent's claim lapses); Platform
Control then stops the apps frozen on that host (scales them to zero) instead of keeping them.
"""

import logging
import threading
import time
from pathlib import Path

from paas.contracts import redis_keys

from . import freezer
from .errors import RuntimeLayerError

log = logging.getLogger("paas.agent.sleep")
# Longer than Platform Control needs to clear `frozen` after a wake (its listener does at once;
# its idle tick at worst), so a stale read of the database never refreezes an app just woken.
THAW_GRACE_S = 30.0
PRESSURE_TTL_S = 15   # the agent renews it every pass while the pressure lasts


def pressure_key(prefix: str, host: str) -> str:
    """The Redis key an agent keeps while its host is short of memory (read by control/sleep.py)."""
    return redis_keys.agent_pressure(prefix, host)


def available_mb(meminfo: str) -> int:
    """MemAvailable of /proc/meminfo's text, in MB (0 when missing: treated as pressure)."""
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


class Sleeper:
    """Which instances this agent froze, per app, so a wake thaws them without a lookup."""

    def __init__(self, backend=None):
        # What freezes and thaws by instance name: the agent's backend (the docker backend pauses its
        # engine's instances), or the platform's own freezer.
        self.ops = backend if backend is not None else freezer
        self.lock = threading.Lock()
        self.frozen: dict[str, set[str]] = {}
        self.woken: dict[str, float] = {}

    def converge(self, name: str, app: str, want: bool, up: bool) -> bool:
        """Freeze or thaw one instance as wanted; True while it is asleep (skip its health check).

        Only an instance that is up is frozen: one still starting must first prove it answers.
        """
        with self.lock:
            woken = time.monotonic() - self.woken.get(app, float("-inf")) < THAW_GRACE_S
            want = want and up and not woken
            try:
                if want and not self.ops.is_frozen(name):
                    self.ops.freeze(name)
                    log.info("%s: asleep (frozen)", name)
                elif not want and self.ops.is_frozen(name):
                    self.ops.thaw(name)
                    log.info("%s: awake (thawed)", name)
            except RuntimeLayerError as exc:
                log.warning("%s: %s", name, exc)
                want = False
            names = self.frozen.setdefault(app, set())
            (names.add if want else names.discard)(name)
            return want

    def wake(self, app: str) -> list[str]:
        """A request arrived for ``app``: thaw its instances now (the router's wake message)."""
        now = time.monotonic()
        with self.lock:
            self.woken = {a: t for a, t in self.woken.items() if now - t < THAW_GRACE_S}
            self.woken[app] = now
            names = sorted(self.frozen.pop(app, ()))
        for name in names:
            try:
                self.ops.thaw(name)
            except RuntimeLayerError as exc:
                log.warning("%s: %s", name, exc)
        return names

    def forget(self, name: str) -> None:
        with self.lock:
            for names in self.frozen.values():
                names.discard(name)

    def report_pressure(self, redis, prefix: str, host: str, min_available_mb: int) -> bool:
        """Keep the pressure key set while the host is short of memory; True under pressure."""
        short = available_mb(Path("/proc/meminfo").read_text()) < min_available_mb
        if short and redis is not None:
            try:
                redis.set(pressure_key(prefix, host), "1", ex=PRESSURE_TTL_S)
            except Exception as exc:  # Redis away: the next pass says it again
                log.warning("memory pressure: %s", exc)
        return short
