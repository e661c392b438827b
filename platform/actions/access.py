"""Who may see and change which app: owners, collaborators, team members, admins."""

from django.db.models import Q, QuerySet

from paas.platform.exceptions import Forbidden, Invalid, NotFound
from paas.platform.models import App, TeamMembership
from paas.platform.names import check_app_name


def visible_apps(user) -> QuerySet:
    """The apps ``user`` may see: its member apps, every app for admins."""
    if user.is_staff:
        return App.objects.all()
    return member_apps(user)


def member_apps(user) -> QuerySet:
    """Apps ``user`` owns, collaborates on or shares through a team: being an admin is not enough."""
    return App.objects.filter(
        Q(owner=user) | Q(collaborators__user=user) | Q(team__memberships__user=user)
    ).distinct()


def get_app(user, name: str, *, lock: bool = False) -> App:
    """Return the app if ``user`` may work on it; 404 if it does not exist, 403 otherwise."""
    try:
        check_app_name(name)  # before any query: a NUL would reach PostgreSQL
    except Invalid:
        raise NotFound(f"app {name!r} not found") from None
    queryset = App.objects.select_for_update() if lock else App.objects
    try:
        app = queryset.get(name=name)
    except App.DoesNotExist:
        raise NotFound(f"app {name!r} not found") from None
    if not can_use(user, app):
        raise Forbidden(f"you do not have access to app {name!r}")
    return app


def can_use(user, app: App) -> bool:
    return bool(
        user.is_staff
        or app.owner_id == user.pk
        or app.collaborators.filter(user=user).exists()
        or (app.team_id and app.team.memberships.filter(user=user).exists())
    )


def can_manage(user, app: App) -> bool:
    """Destroying an app and changing who has access: owner, team admins, platform admins."""
    return bool(
        user.is_staff
        or app.owner_id == user.pk
        or (app.team_id and app.team.memberships.filter(user=user, role=TeamMembership.ADMIN).exists())
    )


def require_manage(user, app: App) -> None:
    if not can_manage(user, app):
        raise Forbidden(f"only the owner of {app.name!r} or an admin can do that")
