"""Collaborators: who besides the owner may work on an app."""

from paas.platform.actions import access
from paas.platform.actions.collaborators import add_collaborator, remove_collaborator
from paas.platform.api.routing import body_schema


def list_collaborators(request, app):
    """The owner and collaborators of the app."""
    target = access.get_app(request.user, app)
    rows = [{"user": target.owner.username, "role": "owner"}]
    rows += [{"user": c.user.username, "role": "collaborator"} for c in target.collaborators.select_related("user")]
    return rows


@body_schema({"user": "username or e-mail"})
def create(request, app):
    """Give a user access to the app."""
    target = access.get_app(request.user, app)
    collaborator = add_collaborator(request.user, target, request.data.get("user"))
    return 201, {"user": collaborator.user.username, "role": "collaborator"}


def destroy(request, app, user):
    """Take a user's access away."""
    target = access.get_app(request.user, app)
    remove_collaborator(request.user, target, user)
    return {"removed": user}
