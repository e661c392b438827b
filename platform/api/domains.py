"""Custom domains."""

from paas.platform.actions import access
from paas.platform.actions.domains import add_domain, remove_domain
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import domain_json


def list_domains(request, app):
    """The app's custom domains."""
    target = access.get_app(request.user, app)
    return [domain_json(d) for d in target.domains.select_related("app")]


@body_schema({"hostname": "string"})
def create(request, app):
    """Route a custom hostname to the app."""
    target = access.get_app(request.user, app)
    return 201, domain_json(add_domain(request.user, target, request.data.get("hostname")))


def destroy(request, app, hostname):
    """Stop routing a custom hostname to the app."""
    target = access.get_app(request.user, app)
    remove_domain(request.user, target, hostname)
    return {"removed": hostname}
