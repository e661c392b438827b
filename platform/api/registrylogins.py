"""An app's image registry logins: listed without their secrets, added after the registry accepts them."""

from paas.platform.actions import access
from paas.platform.actions.registrylogins import log_in, log_out
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import iso
from paas.platform.models import RegistryLogin


def login_json(row: RegistryLogin) -> dict:
    """A login as shown back: never its password or token."""
    return {"registry": row.registry, "username": row.username, "updated_at": iso(row.updated_at)}


def list_logins(request, app):
    """The app's registry logins: registries and usernames."""
    target = access.get_app(request.user, app)
    return 200, [login_json(row) for row in RegistryLogin.objects.filter(app=target)]


@body_schema({"registry": "host[:port]", "username": "string", "password": "the password or a token"})
def create(request, app):
    """Check the credentials with the registry and keep them (sealed) for the app's pulls."""
    target = access.get_app(request.user, app)
    data = request.data
    row = log_in(request.user, target, data.get("registry"), data.get("username"), data.get("password"))
    return 201, login_json(row)


def destroy(request, app, registry):
    """Forget the app's login for a registry."""
    target = access.get_app(request.user, app)
    log_out(request.user, target, registry)
    return {"removed": registry}
