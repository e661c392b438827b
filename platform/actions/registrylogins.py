"""An app's image registry logins (``paas registry:login``): checked with the registry, then sealed.

A login is tried against the registry before it is kept (a wrong password is answered at once,
naming the registry, and nothing is stored). The secret is sealed (platform/sealing.py) and never
answered back: listing shows registries and usernames only. The platform uses a login when it pulls
for the app (deploy:image, a Dockerfile's FROM); builds never receive it.
"""

from django.db import transaction

from paas.platform import sealing
from paas.platform.actions import login_throttle
from paas.platform.actions.events import record
from paas.platform.exceptions import Invalid, NotFound
from paas.platform.models import App, RegistryLogin

PURPOSE = "registry login"


def _text(value, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"give the {what}")
    if len(value) > limit or not value.isprintable():
        raise Invalid(f"the {what} must be printable text of at most {limit} characters")
    return value.strip()


def log_in(user, app: App, registry, username, secret) -> RegistryLogin:
    """Check `username`/`secret` with `registry` and keep them for `app` (replacing an earlier login)."""
    from paas.runtime import registry as registries
    from paas.runtime.errors import ImageError

    try:
        host = registries.check_registry(registry)
    except ImageError as error:
        raise Invalid(str(error)) from None
    login = registries.Login(_text(username, "username", 255), _text(secret, "password or token",
                                                                      registries.MAX_SECRET_CHARS))
    login_throttle.check_registry(user.username)
    try:
        registries.verify(host, login)
    except ImageError as error:
        login_throttle.registry_failed(user.username)
        raise Invalid(str(error)) from None
    login_throttle.registry_succeeded(user.username)
    with transaction.atomic():
        row, _ = RegistryLogin.objects.update_or_create(
            app=app, registry=host,
            defaults={"username": login.username, "sealed_secret": sealing.seal(PURPOSE, login.secret),
                      "created_by": user})
        record(user, "registry.login", f"logged in to {host} as {login.username}", app=app)
    return row


def log_out(user, app: App, registry) -> None:
    deleted, _ = RegistryLogin.objects.filter(app=app, registry=str(registry).strip()).delete()
    if not deleted:
        raise NotFound(f"{app.name} has no login for {str(registry)[:100]}")
    record(user, "registry.logout", f"logged out of {str(registry)[:100]}", app=app)


def logins(app: App) -> dict:
    """The app's logins by registry, unsealed: what runtime/registry.pull takes."""
    from paas.runtime.registry import Login

    return {row.registry: Login(row.username, sealing.unseal(PURPOSE, row.sealed_secret))
            for row in RegistryLogin.objects.filter(app=app)}
