"""Placing unplaced instances onto hosts, and noticing hosts that stopped heartbeating."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.control.placement import HostCapacity, Request, place
from paas.platform.models import Host, Instance

# Instances that hold their host's capacity: all but the finished ones.
FINISHED = (Instance.STOPPED,)


def mark_down_hosts(now=None) -> list[str]:
    """Hosts silent for longer than PAAS_HOST_DOWN_AFTER_S are down; their instances go elsewhere."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER_S)
    names = []
    with transaction.atomic():
        # A cordoned (draining) host that goes silent is down too: its instances must move now.
        for host in Host.objects.select_for_update().filter(state__in=(Host.UP, Host.DRAINING)).filter(
                Q(last_heartbeat__lt=cutoff) | Q(last_heartbeat__isnull=True)):
            host.state = Host.DOWN
            host.save(update_fields=["state"])
            moved = Instance.objects.filter(host=host, desired_state=Instance.RUNNING).update(
                host=None, state=Instance.PENDING, address=None, port=None)
            record(None, "host.down", f"host {host.name} stopped heartbeating; {moved} instances rescheduled")
            names.append(host.name)
        for host in Host.objects.select_for_update().filter(state=Host.DOWN, last_heartbeat__gte=cutoff):
            # Back after being declared down: its old instances were placed elsewhere,
            # and its agent stops them because they are no longer assigned to it.
            host.state = Host.UP
            host.save(update_fields=["state"])
            record(None, "host.up", f"host {host.name} is heartbeating again")
    return names


def capacities() -> list[HostCapacity]:
    hosts = {h.pk: HostCapacity(h.name, h.memory_mb, h.cpus, stacks=frozenset(h.stacks or ()))
             for h in Host.objects.filter(state=Host.UP)}
    holding = (Instance.objects.filter(host_id__in=hosts).exclude(state__in=FINISHED)
               .values_list("host_id", "memory_mb", "cpus", "app__name", "process_type"))
    for host_id, memory_mb, cpus, app_name, process_type in holding:
        host = hosts[host_id]
        host.used_memory_mb += memory_mb
        host.used_cpus += cpus
        group = (app_name, process_type)
        host.groups[group] = host.groups.get(group, 0) + 1
    return list(hosts.values())


def place_pending() -> int:
    """Give every unplaced instance a host, or record why none can take it; return how many were placed."""
    with transaction.atomic():
        # The build is only read (its stack), and a release may have none: not locked.
        pending = list(Instance.objects.select_for_update(skip_locked=True, of=("self", "app"))
                       .filter(host__isnull=True, desired_state=Instance.RUNNING)
                       .select_related("app", "release__build").order_by("created_at"))
        if not pending:
            return 0
        requests = [Request(i.pk, i.app.name, i.process_type, i.memory_mb, i.cpus, run_stack(i)) for i in pending]
        decision = place(requests, capacities(), settings.PAAS_CPU_OVERCOMMIT)
        host_ids = dict(Host.objects.filter(name__in=set(decision.placed.values())).values_list("name", "pk"))
        now = timezone.now()
        # One UPDATE per host and per reason, not per instance: placement must stay
        # fast with thousands pending.
        for host_name, keys in group_by_value(decision.placed).items():
            Instance.objects.filter(pk__in=keys).update(
                host_id=host_ids[host_name], state=Instance.PENDING, unplaced_reason="", updated_at=now)
        record_unplaced(pending, decision.unplaced)
        for reason, keys in group_by_value(decision.unplaced).items():
            Instance.objects.filter(pk__in=keys).update(state=Instance.UNPLACED, unplaced_reason=reason, updated_at=now)
    return len(decision.placed)


def run_stack(instance: Instance) -> str:
    """The stack an instance needs on its host: its release's build's (no build yet: the app's)."""
    build = instance.release.build if instance.release_id else None
    return build.run_stack if build is not None else instance.app.stack or "host"


def group_by_value(mapping: dict) -> dict:
    groups = {}
    for key, value in mapping.items():
        groups.setdefault(value, []).append(key)
    return groups


def record_unplaced(pending: list[Instance], unplaced: dict) -> None:
    """An event when an instance first cannot be placed, or for a new reason; not every tick."""
    for instance in pending:
        reason = unplaced.get(instance.pk)
        if reason and (instance.state != Instance.UNPLACED or instance.unplaced_reason != reason):
            record(None, "instance.unplaced", f"{instance.label} cannot be placed: {reason}", app=instance.app)


def forget_stopped() -> None:
    """Instances stopped by request and reported stopped by their agent free their host."""
    Instance.objects.filter(desired_state=Instance.STOP, host__isnull=True).exclude(
        state=Instance.STOPPED).update(state=Instance.STOPPED)
