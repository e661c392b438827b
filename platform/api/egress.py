"""Per-app egress: GET shows it, PUT switches it."""

from paas.platform.actions import access
from paas.platform.actions.egress import set_egress
from paas.platform.api.routing import body_schema


def egress_json(app) -> dict:
    return {"app": app.name, "egress": "allowed" if app.egress else "denied"}


def show(request, app):
    """Whether the app's instances may open connections out (DNS included)."""
    return egress_json(access.get_app(request.user, app))


@body_schema({"allowed": "boolean"})
def change(request, app):
    """Allow or deny the app's instances every outgoing connection; running instances follow within a pass."""
    return egress_json(set_egress(request.user, access.get_app(request.user, app), request.data.get("allowed")))
