"""Hosts with what they hold: capacity used by their instances, and whether their agent heartbeats."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from paas.platform.actions.hosts import with_usage
from paas.platform.models import Host

FIELDS = ("name", "state", "address", "memory_mb", "cpus", "last_heartbeat", "used_memory_mb", "used_cpus",
          "instance_count")


def host_rows() -> list[dict]:
    """Every host with used memory/CPU and instance counts, in one query, as dicts ready to show.

    Dicts, not models: a template looks a name up in a dict first, and on a model instance that
    first try raises before getattr; with a hundred host cards of a dozen values each, that was
    most of the dashboard's rendering. The CPU figures are formatted here once, with fixed
    decimals (what floatformat:2 shows for them, at a tenth of its cost), not once per place a
    page shows them."""
    now = timezone.now()
    stale = timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER_S)
    rows = list(with_usage(Host.objects.all()).values(*FIELDS))
    for host in rows:
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
