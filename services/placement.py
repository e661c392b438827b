"""Where a new add-on server runs: the scheduler's rules, counting the add-ons already placed.

The host port (what attached apps connect to on the host's gateway) is the
lowest free one of PAAS_ADDON_PORTS on that host, below the instances'
publish range.
"""

import os

from django.conf import settings

from paas.platform.control.placement import Request, place
from paas.platform.control.scheduling import capacities
from paas.platform.exceptions import PlatformError
from paas.platform.models import Addon, Host
from paas.services.catalog import Plan

LIVE = (Addon.PROVISIONING, Addon.AVAILABLE, Addon.DEPROVISIONING, Addon.DOWN)


class NoCapacity(PlatformError):
    status = 503
    code = "no_capacity"


def port_range() -> range:
    text = os.environ.get("PAAS_ADDON_PORTS", "15000-19999")
    first, _, last = text.partition("-")
    return range(int(first), int(last) + 1)


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
    taken = {p for pair in Addon.objects.filter(host=host).values_list("host_port", "tls_host_port") for p in pair}
    free = [port for port in port_range() if port not in taken][:ports]
    if len(free) < ports:
        raise NoCapacity(f"host {host.name} has no free add-on port left in PAAS_ADDON_PORTS")
    return host, free
