"""Teams: users who share a set of apps."""

from django.db import IntegrityError, transaction

from paas.platform.actions.collaborators import find_user
from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, Forbidden, Invalid, NotFound
from paas.platform.models import Team, TeamMembership
from paas.platform.names import check_team_name


def create_team(user, name: str) -> Team:
    check_team_name(name)
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name)
            TeamMembership.objects.create(team=team, user=user, role=TeamMembership.ADMIN)
            record(user, "team.create", f"created team {name}", team=name)
    except IntegrityError:
        raise Conflict(f"a team named {name!r} already exists") from None
    return team


def visible_teams(user):
    """Teams ``user`` belongs to; every team for admins."""
    return Team.objects.all() if user.is_staff else Team.objects.filter(memberships__user=user)


def get_team(user, name: str) -> Team:
    try:
        check_team_name(name)
    except Invalid:
        raise NotFound(f"team {name!r} not found") from None
    try:
        team = Team.objects.get(name=name)
    except Team.DoesNotExist:
        raise NotFound(f"team {name!r} not found") from None
    if not user.is_staff and not team.memberships.filter(user=user).exists():
        raise Forbidden(f"you are not a member of team {name!r}")
    return team


def require_team_admin(user, team: Team) -> None:
    if not user.is_staff and not team.memberships.filter(user=user, role=TeamMembership.ADMIN).exists():
        raise Forbidden(f"only admins of team {team.name!r} can change its members")


def add_member(user, team: Team, identifier: str, role: str = TeamMembership.MEMBER) -> TeamMembership:
    require_team_admin(user, team)
    if role not in dict(TeamMembership.ROLES):
        raise Invalid(f"role must be one of: {', '.join(dict(TeamMembership.ROLES))}")
    other = find_user(identifier)
    try:
        with transaction.atomic():
            membership = TeamMembership.objects.create(team=team, user=other, role=role)
            record(user, "team.member.add", f"added {other.username} to team {team.name} as {role}", team=team.name)
    except IntegrityError:
        raise Conflict(f"{other.username} is already in team {team.name}") from None
    return membership


def remove_member(user, team: Team, identifier: str) -> None:
    require_team_admin(user, team)
    other = find_user(identifier)
    with transaction.atomic():
        membership = team.memberships.filter(user=other).first()
        if membership is None:
            raise NotFound(f"{other.username} is not in team {team.name}")
        admins = team.memberships.filter(role=TeamMembership.ADMIN).count()
        if membership.role == TeamMembership.ADMIN and admins == 1:
            raise Conflict(f"{other.username} is the last admin of team {team.name}")
        membership.delete()
        record(user, "team.member.remove", f"removed {other.username} from team {team.name}", team=team.name)
