"""Apps: list, create, show, destroy."""

from paas.platform.actions import access
from paas.platform.actions.apps import create_app, describe_stacks, destroy_app, set_health_check, set_stack
from paas.platform.actions.apps import set_maintenance as set_app_maintenance
from paas.platform.api.origin import git_base
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import app_json
from paas.platform.exceptions import Invalid


def list_apps(request):
    """Apps you own or collaborate on (all apps for admins)."""
    apps = access.visible_apps(request.user).select_related("owner", "team")
    base = git_base(request)
    return [app_json(app, base) for app in apps]


@body_schema({"name": "string", "team": "string", "stack": "string"})
def create(request):
    """Create an app; its name becomes <name>.<base-domain>."""
    name = request.data.get("name")
    if name is None:
        raise Invalid("give the app a name")
    team = request.data.get("team")
    stack = request.data.get("stack")
    for label, value in (("team", team), ("stack", stack)):
        if value is not None and not isinstance(value, str):
            raise Invalid(f"{label} must be a string")
    return 201, app_json(create_app(request.user, name, team=team, stack=stack), git_base(request))


def info(request, app):
    """One app, with its URLs and current release."""
    return app_json(access.get_app(request.user, app), git_base(request))


def destroy(request, app):
    """Destroy an app and all its history; pass ?confirm=<name>."""
    target = access.get_app(request.user, app)
    destroy_app(request.user, target, request.GET.get("confirm") or request.data.get("confirm"))
    return {"destroyed": app}


@body_schema({"enabled": "boolean"})
def set_maintenance(request, app):
    """Turn maintenance mode on or off: the router answers 503 with a maintenance page."""
    enabled = request.data.get("enabled")
    if not isinstance(enabled, bool):
        raise Invalid('give {"enabled": true} or {"enabled": false}')
    changed = set_app_maintenance(request.user, access.get_app(request.user, app), enabled)
    return app_json(changed, git_base(request))


@body_schema({"path": "/health, or empty to turn the check off"})
def set_healthcheck(request, app):
    """Set the HTTP path new web instances must answer (2xx/3xx) before they take traffic."""
    path = request.data.get("path", "")
    return app_json(set_health_check(request.user, access.get_app(request.user, app), path), git_base(request))


@body_schema({"stack": "host, forky, trixie, …"})
def change_stack(request, app):
    """Choose the stack the next build runs on."""
    changed = set_stack(request.user, access.get_app(request.user, app), request.data.get("stack"))
    return app_json(changed, git_base(request))


def list_stacks(request):
    """The stacks apps can build and run on, with their language versions; new apps get the default one."""
    return describe_stacks()
