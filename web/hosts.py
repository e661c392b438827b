"""Hosts with what they hold: capacity used by their instances, and whether their agent heartbeats."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from paas.platform.actions.hosts import with_usage
from paas.platform.models import Host


def host_rows() -> list[Host]:
    """Every host with used memory/CPU and instance counts, in one query."""
    hosts = with_usage(Host.objects.all())
    now = timezone.now()
    stale = timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER_S)
    rows = list(hosts)
    for host in rows:
        host.memory_percent = percent(host.used_memory_mb, host.memory_mb)
        host.cpu_limit = host.cpus * settings.PAAS_CPU_OVERCOMMIT  # CPU may be over-committed, memory never
        host.cpu_percent = percent(host.used_cpus, host.cpu_limit)
        host.heartbeat_ok = bool(host.last_heartbeat and now - host.last_heartbeat <= stale)
    return rows


def percent(used, total) -> int:
    return min(100, round(100 * used / total)) if total else 0
