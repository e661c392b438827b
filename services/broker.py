"""The add-on broker: the Open Service Broker operations over the models.

provision (place a server; asynchronous, see ``last_operation``), bind (an
app's ``<NAME>_URL`` config var: a new release, rolled out), unbind,
deprovision (the server stops, then its volume goes). The API's views and the
control loop (``settle``) call these; permission checks come first, and
every refusal is raised before anything is written.
"""

from django.db import transaction
from django.db.models import Q

from paas.platform.actions import access
from paas.platform.actions.config import change_config
from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, Invalid, NotFound
from paas.platform.models import Addon, AddonAttachment, App
from paas.services import catalog, names
from paas.services.placement import choose_host
from paas.services.providers import provider


def config_var(attachment_name: str) -> str:
    return f"{attachment_name}_URL"


def tls_config_var(attachment_name: str) -> str:
    """REDIS_TLS_URL beside REDIS_URL, for a service whose TLS has a port of its own."""
    return f"{attachment_name}_TLS_URL"


def config_vars(attachment: AddonAttachment) -> dict[str, str]:
    """What binding gives the app: its URL, and its TLS URL where the server has a TLS port."""
    addon, module = attachment.addon, provider(attachment.addon.service)
    found = {config_var(attachment.name): module.url(addon.credentials, _gateway(), addon.host_port)}
    if addon.tls_host_port and hasattr(module, "tls_url"):
        found[tls_config_var(attachment.name)] = module.tls_url(addon.credentials, _gateway(), addon.tls_host_port)
    return found


def get_addon(user, name: str) -> Addon:
    """An add-on the user may see (through its owner or an app it is attached to); 404 otherwise."""
    if not names.is_addon_name(name):
        raise NotFound(f"add-on {name!r} not found")
    addon = Addon.objects.select_related("app", "host").filter(name=name).first()
    if addon is None or addon.app is None or not (access.can_use(user, addon.app) or any(
            access.can_use(user, a.app) for a in addon.attachments.select_related("app"))):
        raise NotFound(f"add-on {name!r} not found")
    return addon


def addons_of(app: App) -> list[Addon]:
    """The add-ons the app owns or is attached to."""
    return list(Addon.objects.filter(Q(app=app) | Q(attachments__app=app)).distinct()
                .select_related("app", "host").order_by("created_at"))


def _free_attachment(app: App, name: str, service_name: str) -> None:
    taken = AddonAttachment.objects.filter(app=app, name=name).select_related("addon").first()
    if taken is not None:
        raise Conflict(f"{app.name} already has {config_var(name)} from {taken.addon.name}: "
                       f"give the second {service_name} another name with --as NAME")
    latest = app.latest_release()
    for var in (config_var(name), tls_config_var(name)):
        if latest is not None and var in latest.config.values:
            raise Conflict(f"{app.name} already has a config var {var}: "
                           f"unset it or give the add-on another name with --as NAME")


def provision(user, app: App, service_text: str, as_name: str | None = None) -> Addon:
    """`addons:create`: place a server and attach it to the app; it binds once it accepts connections."""
    access.require_manage(user, app)
    service, plan = catalog.parse(service_text)
    attachment = names.attachment_name(as_name) if as_name else service.env_prefix
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        _free_attachment(app, attachment, service.name)
        host, ports = choose_host(app.name, service.name, plan, len(service.ports()), app.stack)
        name, module = names.new_addon_name(service.name), provider(service.name)
        credentials = {**module.new_credentials(), **module.tls_credentials(name, _gateway())}
        addon = Addon.objects.create(
            name=name, service=service.name, plan=plan.name, stack=app.stack, app=app, host=host,
            host_port=ports[0], tls_host_port=ports[1] if len(ports) > 1 else None, credentials=credentials,
            state_message="the server is starting")
        AddonAttachment.objects.create(addon=addon, app=app, name=attachment)
        record(user, "addon.create", f"created {addon.name} ({service.name}:{plan.name}) as "
               f"{config_var(attachment)}", app=app, addon=addon.name)
        transaction.on_commit(_wake_agents)
    return addon


def attach(user, addon: Addon, app: App, as_name: str | None = None) -> AddonAttachment:
    """`addons:attach`: another app uses the add-on (bound at once if it is available)."""
    access.require_manage(user, addon.app)
    access.require_manage(user, app)
    service = catalog.service(addon.service)
    name = names.attachment_name(as_name) if as_name else service.env_prefix
    if addon.state not in (Addon.PROVISIONING, Addon.AVAILABLE):
        raise Conflict(f"{addon.name} is {addon.state}: only a working add-on can be attached")
    with transaction.atomic():
        App.objects.select_for_update().get(pk=app.pk)
        if addon.attachments.filter(app=app).exists():
            raise Conflict(f"{addon.name} is already attached to {app.name}")
        _free_attachment(app, name, service.name)
        attachment = AddonAttachment.objects.create(addon=addon, app=app, name=name)
        record(user, "addon.attach", f"attached {addon.name} as {config_var(name)}", app=app, addon=addon.name)
        if addon.state == Addon.AVAILABLE:
            bind(attachment, user)
        transaction.on_commit(_wake_agents)
    return attachment


def bind(attachment: AddonAttachment, user=None) -> None:
    """Give the app its URL as config: a new release, which the control loop rolls out."""
    change_config(user, attachment.app, config_vars(attachment))
    AddonAttachment.objects.filter(pk=attachment.pk).update(bound=True)


def unbind(attachment: AddonAttachment, user=None) -> None:
    """Take the URLs away (a new release), if they were ever given."""
    latest = attachment.app.latest_release()
    given = [var for var in (config_var(attachment.name), tls_config_var(attachment.name))
             if latest is not None and var in latest.config.values]
    if attachment.bound and given:
        change_config(user, attachment.app, dict.fromkeys(given))
    attachment.delete()


def detach(user, addon: Addon, app: App) -> None:
    """`addons:detach`: the app loses its URL and, at the agent's next pass, its connections."""
    access.require_manage(user, app)
    if app.pk == addon.app_id:
        raise Conflict(f"{addon.name} belongs to {app.name}: destroy it with addons:destroy instead")
    with transaction.atomic():
        attachment = addon.attachments.select_related("app").filter(app=app).first()
        if attachment is None:
            raise NotFound(f"{addon.name} is not attached to {app.name}")
        unbind(attachment, user)
        record(user, "addon.detach", f"detached {addon.name}", app=app, addon=addon.name)
        transaction.on_commit(_wake_agents)


def deprovision(user, addon: Addon, confirm: str | None) -> None:
    """`addons:destroy NAME --confirm APP`: unbind everywhere, stop the server, then its volume goes."""
    access.require_manage(user, addon.app)
    if confirm != addon.app.name:
        apps = sorted({a.app.name for a in addon.attachments.select_related("app")} | {addon.app.name})
        raise Invalid(f"destroying {addon.name} deletes its data and the config of {', '.join(apps)}: "
                      f"confirm with --confirm {addon.app.name}")
    with transaction.atomic():
        for attachment in addon.attachments.select_related("app"):
            unbind(attachment, user)
        if addon.host_id is None:
            addon.delete()  # nothing was ever placed, or its volume is gone already
        else:
            Addon.objects.filter(pk=addon.pk).update(state=Addon.DEPROVISIONING, state_message="removing")
        record(user, "addon.destroy", f"destroyed {addon.name}", app=addon.app, addon=addon.name)
        transaction.on_commit(_wake_agents)


def release_owned(user, app: App) -> None:
    """`apps:destroy`: the app's own add-ons go with it (their other apps lose their URL, the servers
    stop, the volumes go); its attachments to others' add-ons and its backup files go too."""
    for addon in Addon.objects.filter(app=app).exclude(state=Addon.DEPROVISIONING).select_related("app", "host"):
        deprovision(user, addon, confirm=app.name)
    AddonAttachment.objects.filter(app=app).delete()

    def remove_backup_files(app_id=app.pk):
        import shutil

        from paas.services.backups import root
        shutil.rmtree(root() / str(app_id), ignore_errors=True)

    transaction.on_commit(remove_backup_files)


def last_operation(addon: Addon) -> dict:
    """OSB's last_operation: "in progress", "succeeded" or "failed", with a description."""
    state = {Addon.PROVISIONING: "in progress", Addon.DEPROVISIONING: "in progress",
             Addon.AVAILABLE: "succeeded"}.get(addon.state, "failed")
    return {"state": state, "description": addon.state_message or addon.state}


def _gateway() -> str:
    from paas.runtime.addonnet import gateway

    return gateway()


def _wake_agents() -> None:
    from paas.platform.control.wake import wake_agents

    wake_agents()
