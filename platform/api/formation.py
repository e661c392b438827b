"""Formation (scale) and the app's instances (ps)."""

from paas.platform.actions import access
from paas.platform.actions.formation import known_process_types, restart, scale, set_stopped
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import formation_json, instance_json
from paas.platform.exceptions import Invalid
from paas.platform.sizes import DEFAULT_SIZE


def show(request, app):
    """Desired quantity and size of every process type."""
    target = access.get_app(request.user, app)
    return formation_list(target)


def formation_list(app) -> list[dict]:
    rows = {f.process_type: formation_json(f) for f in app.formation.all()}
    for process_type in known_process_types(app) - rows.keys():
        rows[process_type] = {"type": process_type, "quantity": 0, "size": DEFAULT_SIZE, "stopped": False}
    return [rows[name] for name in sorted(rows)]


@body_schema({"<type>": {"quantity": "integer", "change": "integer", "size": "string"}})
def update(request, app):
    """Scale process types: {"web": {"quantity": 2, "size": "medium"}}, or by {"change": +1}."""
    target = access.get_app(request.user, app)
    scale(request.user, target, request.data)
    return formation_list(target)


def instances(request, app):
    """The app's instances and their state."""
    target = access.get_app(request.user, app)
    rows = target.instances.exclude(state="stopped").select_related("release", "host")
    return [instance_json(i) for i in rows]


def process_type_from(request):
    value = request.data.get("type")
    if value is not None and not isinstance(value, str):
        raise Invalid("type must be a process type name")
    return value or None


@body_schema({"type": "process type (default: all)"})
def restart_processes(request, app):
    """Restart instances one at a time (rolling), each replacement up before the old one stops."""
    target = access.get_app(request.user, app)
    restart(request.user, target, process_type_from(request))
    return formation_list(target)


@body_schema({"type": "process type (default: all)"})
def stop_processes(request, app):
    """Stop every instance (of a type) but keep the scale, until ps:start."""
    target = access.get_app(request.user, app)
    set_stopped(request.user, target, process_type_from(request), True)
    return formation_list(target)


@body_schema({"type": "process type (default: all)"})
def start_processes(request, app):
    """Run again what ps:stop stopped."""
    target = access.get_app(request.user, app)
    set_stopped(request.user, target, process_type_from(request), False)
    return formation_list(target)
