"""Giving other users access to an app."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from paas.platform.actions.access import require_manage
from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, Invalid, NotFound
from paas.platform.models import App, Collaborator
from paas.platform.names import check_text


def find_user(identifier: str):
    """A user by username or e-mail address."""
    users = get_user_model().objects
    if not isinstance(identifier, str) or not identifier.strip():
        raise Invalid("give a username or e-mail address")
    check_text(identifier, "a username or e-mail address", max_length=254)
    found = users.filter(username=identifier).first() or users.filter(email__iexact=identifier).first()
    if found is None:
        raise NotFound(f"no user {identifier!r}")
    return found


def add_collaborator(user, app: App, identifier: str) -> Collaborator:
    require_manage(user, app)
    other = find_user(identifier)
    if other.pk == app.owner_id:
        raise Conflict(f"{other.username} owns {app.name} already")
    try:
        with transaction.atomic():
            collaborator = Collaborator.objects.create(app=app, user=other)
            record(user, "access.add", f"gave {other.username} access", app=app, user=other.username)
    except IntegrityError:
        raise Conflict(f"{other.username} already has access to {app.name}") from None
    return collaborator


def remove_collaborator(user, app: App, identifier: str) -> None:
    require_manage(user, app)
    other = find_user(identifier)
    with transaction.atomic():
        deleted, _ = Collaborator.objects.filter(app=app, user=other).delete()
        if not deleted:
            raise NotFound(f"{other.username} is not a collaborator on {app.name}")
        record(user, "access.remove", f"removed {other.username}'s access", app=app, user=other.username)
