"""Teams and their members."""

from paas.platform.actions.teams import add_member, create_team, get_team, remove_member, visible_teams
from paas.platform.api.routing import body_schema
from paas.platform.models import Team


def team_json(team: Team) -> dict:
    members = team.memberships.select_related("user").order_by("user__username")
    return {"name": team.name, "members": [{"user": m.user.username, "role": m.role} for m in members]}


def list_teams(request):
    """Teams you belong to (all teams for admins)."""
    return [team_json(t) for t in visible_teams(request.user)]


@body_schema({"name": "string"})
def create(request):
    """Create a team; you become its admin."""
    return 201, team_json(create_team(request.user, request.data.get("name")))


@body_schema({"user": "username or e-mail", "role": "admin | member"})
def add(request, team):
    """Add a member to a team."""
    target = get_team(request.user, team)
    add_member(request.user, target, request.data.get("user"), request.data.get("role") or "member")
    return 201, team_json(target)


def remove(request, team, user):
    """Remove a member from a team."""
    target = get_team(request.user, team)
    remove_member(request.user, target, user)
    return team_json(target)
