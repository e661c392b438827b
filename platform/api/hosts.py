"""Hosts (admins): capacity and state, cordon, uncordon, drain."""

from paas.platform.actions.hosts import cordon, drain, get_host, require_admin, uncordon, with_usage
from paas.platform.api.serializers import iso
from paas.platform.models import Host


def host_json(host: Host) -> dict:
    return {"name": host.name, "address": host.address, "state": host.state, "memory_mb": host.memory_mb,
            "cpus": host.cpus, "used_memory_mb": getattr(host, "used_memory_mb", None),
            "used_cpus": getattr(host, "used_cpus", None), "instances": getattr(host, "instance_count", None),
            "stacks": host.stacks, "last_heartbeat": iso(host.last_heartbeat)}


def list_hosts(request):
    """Every host, its state, capacity and what its instances use (admins only)."""
    require_admin(request.user)
    return [host_json(h) for h in with_usage(Host.objects.all())]


def cordon_host(request, host):
    """No new instances on the host; what runs there keeps running."""
    return host_json(cordon(request.user, get_host(request.user, host)))


def uncordon_host(request, host):
    """Place instances on the host again."""
    return host_json(uncordon(request.user, get_host(request.user, host)))


def drain_host(request, host):
    """Cordon the host and move its instances elsewhere, one at a time per process type."""
    target = get_host(request.user, host)
    moving = drain(request.user, target)
    target.refresh_from_db()
    return {**host_json(target), "moving": moving}
