"""Add-ons: the catalog, create (provision), list, info (with the last operation), attach, detach, destroy."""

from paas.platform.actions import access
from paas.platform.api.routing import body_schema
from paas.services import broker, catalog, serverpackages, stats


def addon_json(addon, for_app=None) -> dict:
    attachments = [{"app": a.app.name, "name": a.name, "config_var": broker.config_var(a.name), "bound": a.bound}
                   for a in addon.attachments.select_related("app")]
    return {"name": addon.name, "service": addon.service, "plan": addon.plan, "stack": addon.stack,
            "app": addon.app.name,
            "state": addon.state, "message": addon.state_message, "server": addon.server_state,
            "host": addon.host.name if addon.host else None, "restarts": addon.restarts,
            "attachments": attachments, "last_operation": broker.last_operation(addon),
            "created_at": addon.created_at.isoformat()}


def services(request):
    """The catalog: every service and its plans."""
    return catalog.as_json(serverpackages.versions)


def list_addons(request, app):
    """The add-ons the app owns or is attached to."""
    target = access.get_app(request.user, app)
    return [addon_json(a) for a in broker.addons_of(target)]


@body_schema({"service": "string: postgres, postgres:standard, redis, ...", "as": "string (optional): ANALYTICS"})
def create(request, app):
    """Provision an add-on for the app; its URL is set as config once it accepts connections."""
    target = access.get_app(request.user, app)
    addon = broker.provision(request.user, target, request.data.get("service"), request.data.get("as"))
    return 202, addon_json(addon)


def info(request, addon):
    """One add-on, with its last operation (OSB's last_operation)."""
    return addon_json(broker.get_addon(request.user, addon))


def destroy(request, addon):
    """Deprovision (``?confirm=APP``, the owning app): every attached app loses its URL, the server
    stops, its volume goes."""
    found = broker.get_addon(request.user, addon)
    broker.deprovision(request.user, found, request.GET.get("confirm"))
    return 202, {"name": found.name, "state": "deprovisioning"}


@body_schema({"as": "string (optional)"})
def attach(request, app, addon):
    """Attach an add-on to another app (its URL as config)."""
    target = access.get_app(request.user, app)
    found = broker.get_addon(request.user, addon)
    broker.attach(request.user, found, target, request.data.get("as"))
    found.refresh_from_db()
    return 201, addon_json(found)


def detach(request, app, addon):
    """Detach: the app's URL is unset (a new release) and it can no longer connect."""
    target = access.get_app(request.user, app)
    broker.detach(request.user, broker.get_addon(request.user, addon), target)
    return {"app": target.name, "detached": addon}


def server_stats(request, addon):
    """What the server itself says (pg:info, redis:info): version, sizes, connections."""
    found = broker.get_addon(request.user, addon)
    return {"name": found.name, "service": found.service, "plan": found.plan, "state": found.state,
            **stats.stats(found)}
