"""Autoscaling of process types."""

from paas.platform.actions import access
from paas.platform.actions.autoscale import remove_autoscale, set_autoscale
from paas.platform.api.routing import body_schema


def autoscale_json(scaler) -> dict:
    return {"type": scaler.process_type, "min": scaler.min_quantity, "max": scaler.max_quantity,
            "target_rps": scaler.target_rps, "target_p95_ms": scaler.target_p95_ms,
            "last_scaled_at": scaler.last_scaled_at.isoformat() if scaler.last_scaled_at else None}


def list_autoscalers(request, app):
    """The app's autoscaled process types."""
    target = access.get_app(request.user, app)
    return [autoscale_json(s) for s in target.autoscalers.all()]


@body_schema({"min": "integer (0 scales an idle web to zero)", "max": "integer", "target_rps": "number",
              "target_p95_ms": "integer"})
def update(request, app, process_type):
    """Scale a process type between min and max to keep requests per instance and/or p95 on target."""
    target = access.get_app(request.user, app)
    return autoscale_json(set_autoscale(request.user, target, process_type, request.data))


def destroy(request, app, process_type):
    """Stop autoscaling a process type (its quantity stays where it is)."""
    target = access.get_app(request.user, app)
    remove_autoscale(request.user, target, process_type)
    return {"removed": process_type}
