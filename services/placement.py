"""Where a new add-on server runs: the scheduler's rules, counting the add-ons already placed.

The host port (what attached apps connect to on the host's gateway) is the
lowest free one of PAAS_ADDON_PORTS across every host (apps on other hosts use the
same gateway port, runtime/addonnet.py), below the instances' publish range.
"""


from django.conf import settings

from paas.platform.control.placement import Request, place
from paas.platform.control.scheduling import capacities
from paas.platform.exceptions import PlatformError
from paas.platform.models import Addon, Host
from paas.runtime.addonnet import port_range
from paas.services.catalog import Plan

LIVE = (Addon.PROVISIONING, Addon.AVAILABLE, Addon.DEPROVISIONING, Addon.DOWN)


class NoCapacity(PlatformError):
    status = 503
    code = "no_capacity"


def choose_host(app_name: str, service_name: str, plan: Plan, ports: int = 1,
                stack: str = "host") -> tuple[Host, list[int]]:
    """A host with `stack` (whose suite's server it runs) and the plan's memory free, and `ports` free host
    ports on it; NoCapacity otherwise."""
    hosts = capacities()
    by_name = {h.name: h for h in hosts}
    for addon in Addon.objects.filter(state__in=LIVE, host__isnull=False).select_related("host"):
        held = by_name.get(addon.host.name)
        if held is not None:
            from paas.services.catalog import service
            held.used_memory_mb += service(addon.service).plan(addon.plan).memory_mb
    request = Request("addon", app_name, f"addon-{service_name}", plan.memory_mb, plan.cpus, stack)
    decision = place([request], hosts, settings.PAAS_CPU_OVERCOMMIT)
    if "addon" not in decision.placed:
        raise NoCapacity(f"no host can run a {service_name}:{plan.name} server now: "
                         f"{decision.unplaced.get('addon', 'no host is up')}")
    host = Host.objects.get(name=decision.placed["addon"])
    # Unique across hosts: an attached app on another host reaches it on the same gateway port
    # (runtime/addonnet.py), where no server of that host may hold it.
    taken = {p for pair in Addon.objects.filter(host__isnull=False).values_list("host_port", "tls_host_port")
             for p in pair}
    free = [port for port in port_range() if port not in taken][:ports]
    if len(free) < ports:
        raise NoCapacity(f"host {host.name} has no free add-on port left in PAAS_ADDON_PORTS")
    return host, free
