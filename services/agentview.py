"""Add-on servers as the host agent sees them: Desired containers, reports, volumes to remove.

The agent's control plane (platform/hostagent.py) adds these to its
instances; the runtime knows nothing of add-ons beyond Desired's fields
(uid, volumes, expose, allow_apps). Models are imported inside the functions:
the agent imports this module before Django is set up.
"""

RUNNING_STATES = ("provisioning", "available", "down")
REPORTED = {"state": "server_state", "address": "address", "exit_code": "exit_code", "restarts": "restarts",
            "started_at": "started_at", "stopped_at": "stopped_at", "updated_at": "updated_at"}


def desired(host_name: str) -> list:
    from paas.platform.models import Addon
    from paas.runtime.identity import addon_uid
    from paas.runtime.reconcile import Desired
    from paas.services import catalog, serverpackages, templates
    from paas.services.providers import provider

    out = []
    rows = (Addon.objects.filter(host__name=host_name, state__in=RUNNING_STATES)
            .select_related("app").prefetch_related("attachments__app"))
    for addon in rows:
        layers = serverpackages.layers(addon.stack, addon.service)
        if layers is None:  # a Debian stack's server packages, not on this host yet: made, then started
            serverpackages.ensure_soon(addon.stack, addon.service)
            continue
        service = catalog.service(addon.service)
        plan = service.plan(addon.plan)
        module = provider(addon.service)
        out.append(Desired(
            name=addon.name, app=addon.app.name, release="addon", process=f"{addon.service}.1",
            command=module.START, image="", stack=addon.stack, layers=layers, env=module.server_env(plan, addon.credentials),
            memory_mb=plan.memory_mb, cpus=plan.cpus, restarts=addon.restarts,
            last_exit_at=addon.stopped_at.timestamp() if addon.stopped_at else None,
            app_id=addon.app_id, egress=False, uid=addon_uid(addon.pk),
            volumes=((addon.name, plan.volume_mb << 20, module.VOLUME_DESTINATION),),
            mounts=templates.mounts(addon.service, addon.stack),
            expose=(service.port, addon.host_port),
            also_expose=((service.tls_port, addon.tls_host_port),) if service.tls_port and addon.tls_host_port else (),
            allow_apps=tuple(sorted(a.app.name for a in addon.attachments.all())),
            allow_hosts=_client_hosts(addon, host_name)))
    return out


def _client_hosts(addon, host_name: str) -> tuple[str, ...]:
    """The other hosts running containers of the add-on's attached apps (runtime/addonnet.py)."""
    from paas.platform.models import Instance

    addresses = (Instance.objects.filter(app__in=[a.app_id for a in addon.attachments.all()],
                                         desired_state=Instance.RUNNING, host__isnull=False)
                 .exclude(host__name=host_name).values_list("host__address", flat=True).distinct())
    # A loopback address names no other machine (a one-machine platform's hosts).
    return tuple(sorted(a for a in addresses if a and not _loopback(a)))


def _loopback(address: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(address).is_loopback


def remote(host_name: str) -> list[dict]:
    """Add-on servers on other hosts that attached apps' containers here connect to: name, host port,
    the server's host address and the apps allowed (runtime/addonnet.py Forward)."""
    from paas.platform.models import Addon, Instance

    here = set(Instance.objects.filter(host__name=host_name, desired_state=Instance.RUNNING)
               .values_list("app__name", flat=True).distinct())
    if not here:
        return []
    rows = (Addon.objects.filter(state__in=RUNNING_STATES, host__isnull=False, attachments__app__name__in=here)
            .exclude(host__name=host_name).select_related("host").prefetch_related("attachments__app").distinct())
    out = []
    for addon in rows:
        if _loopback(addon.host.address):  # the same machine under another host name: nothing to cross
            continue
        allowed = sorted(a.app.name for a in addon.attachments.all() if a.app.name in here)
        out += [{"name": addon.name, "host_port": port, "address": addon.host.address, "allow_apps": allowed}
                for port in (addon.host_port, addon.tls_host_port) if port]
    return out


def report(name: str, host_name: str, fields: dict) -> bool:
    """Apply the agent's report if `name` is an add-on server here; False when it is not one."""
    from paas.platform.models import Addon

    if not name[:1].isalpha() or "-" not in name or not name.split("-")[0] in ("postgresql", "redis"):
        return False
    row = {REPORTED[k]: v for k, v in fields.items() if k in REPORTED}
    return Addon.objects.filter(name=name, host__name=host_name).update(**row) > 0 or \
        Addon.objects.filter(name=name).exists()


def doomed_volumes(host_name: str) -> list[str]:
    """Volumes on this host whose add-on is destroyed or failed to provision."""
    from paas.platform.models import Addon

    return list(Addon.objects.filter(host__name=host_name, state__in=(Addon.DEPROVISIONING, Addon.FAILED))
                .values_list("name", flat=True))


def volume_removed(name: str) -> None:
    from paas.platform.models import Addon

    Addon.objects.filter(name=name, state=Addon.DEPROVISIONING).delete()
    Addon.objects.filter(name=name, state=Addon.FAILED).update(host=None, server_state="removed")
