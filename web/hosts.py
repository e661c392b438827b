"""Hosts with what they hold: capacity used by their instances, and whether their agent heartbeats."""

from dataclasses import dataclass, field

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from paas.platform.actions.hosts import IDLE, usage
from paas.platform.models import Host

FIELDS = ("name", "state", "address", "memory_mb", "cpus", "last_heartbeat")


def host_rows() -> list[dict]:
    """Every host with used memory/CPU and instance counts (actions.hosts.usage), as dicts ready to show.

    Dicts, not models: a template looks a name up in a dict first, and on a model instance that
    first try raises before getattr; with a hundred host cards of a dozen values each, that was
    most of the dashboard's rendering. The CPU figures are formatted here once, with fixed
    decimals (what floatformat:2 shows for them, at a tenth of its cost), not once per place a
    page shows them."""
    now = timezone.now()
    stale = timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER_S)
    held = usage()
    rows = list(Host.objects.values("pk", *FIELDS))
    for host in rows:
        host.update(held.get(host.pop("pk"), IDLE))
        cpu_limit = host["cpus"] * settings.PAAS_CPU_OVERCOMMIT  # CPU may be over-committed, memory never
        host.update(
            memory_percent=percent(host["used_memory_mb"], host["memory_mb"]),
            cpu_percent=percent(host["used_cpus"], cpu_limit),
            cpu_used=f"{host['used_cpus']:.2f}",
            cpu_limit=f"{cpu_limit:.2f}",
            cpu_limit_short=f"{cpu_limit:.1f}",
            heartbeat_ok=bool(host["last_heartbeat"] and now - host["last_heartbeat"] <= stale),
        )
    return rows


def percent(used, total) -> int:
    return min(100, round(100 * used / total)) if total else 0


# Host cards on the dashboard: a hundred cards were most of its rendering, and an admin glancing at it needs the
# platform's capacity and the hosts that want a look; every host is one click away on the hosts page.
CARDS = 8


@dataclass
class Summary:
    """The dashboard's view of the hosts: capacity over all of them, how many in each state, a few cards."""
    count: int = 0
    memory_mb: int = 0
    used_memory_mb: int = 0
    cpu_limit: float = 0.0
    used_cpus: float = 0.0
    instance_count: int = 0
    states: dict = field(default_factory=dict)
    cards: list = field(default_factory=list)

    @property
    def memory_percent(self) -> int:
        return percent(self.used_memory_mb, self.memory_mb)

    @property
    def cpu_percent(self) -> int:
        return percent(self.used_cpus, self.cpu_limit)


def needs_a_look(host: dict) -> bool:
    return host["state"] != "up" or not host["heartbeat_ok"]


def summary(rows: list[dict], cards: int = CARDS) -> Summary:
    """Totals of ``rows`` (host_rows) and up to ``cards`` of them to show: the ones down, cordoned or silent
    first, then the fullest (memory, then CPU), so a host about to refuse placements is never hidden."""
    out = Summary(count=len(rows))
    for host in rows:
        out.memory_mb += host["memory_mb"]
        out.used_memory_mb += host["used_memory_mb"]
        out.cpu_limit += host["cpus"] * settings.PAAS_CPU_OVERCOMMIT
        out.used_cpus += host["used_cpus"]
        out.instance_count += host["instance_count"]
        out.states[host["state"]] = out.states.get(host["state"], 0) + 1
    ranked = sorted(rows, key=lambda h: (not needs_a_look(h), -h["memory_percent"], -h["cpu_percent"], h["name"]))
    out.cards = ranked[:cards]
    return out
