"""Users (admins), teams and API tokens: the same actions and visibility as the API's."""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.shortcuts import render
from django.views.decorators.http import require_POST

from paas.platform.actions.teams import add_member, create_team, get_team, remove_member, visible_teams
from paas.platform.actions.tokens import issue_token, revoke_token
from paas.platform.actions.users import create_user
from paas.platform.exceptions import Invalid
from paas.platform.models import APIToken, TeamMembership
from paas.web.guard import console_view, done

SCOPES = APIToken.SCOPES


@console_view(admin=True)
def user_list(request):
    users = get_user_model().objects.order_by("username")[:500]
    return render(request, "console/users.html", {"users": users})


@require_POST
@console_view(admin=True)
def user_create(request):
    user = create_user(request.user, request.POST.get("username", ""), request.POST.get("password", ""),
                       email=request.POST.get("email", ""), is_admin=request.POST.get("admin") == "on")
    return done(request, f"Created {'admin' if user.is_staff else 'user'} {user.username}", "/console/users/")


@console_view()
def team_list(request):
    members = TeamMembership.objects.select_related("user").order_by("user__username")
    teams = visible_teams(request.user).prefetch_related(Prefetch("memberships", queryset=members))
    return render(request, "console/teams.html", {"teams": teams, "roles": TeamMembership.ROLES})


@require_POST
@console_view()
def team_create(request):
    team = create_team(request.user, request.POST.get("name", "").strip())
    return done(request, f"Created team {team.name}; you are its admin", "/console/teams/")


@require_POST
@console_view()
def team_add(request, team):
    target = get_team(request.user, team)
    added = add_member(request.user, target, request.POST.get("user", "").strip(),
                       request.POST.get("role") or TeamMembership.MEMBER)
    return done(request, f"Added {added.user.username} to {target.name} as {added.role}", "/console/teams/")


@require_POST
@console_view()
def team_remove(request, team):
    target = get_team(request.user, team)
    user = request.POST.get("user", "")
    remove_member(request.user, target, user)
    return done(request, f"Removed {user} from {target.name}", "/console/teams/")


@console_view()
def token_list(request):
    return render(request, "console/tokens.html", {"tokens": request.user.api_tokens.all(), "scopes": SCOPES})


@require_POST
@console_view()
def token_create(request):
    """The secret is shown once, in this response (not after a redirect, not stored)."""
    days = request.POST.get("days", "").strip()
    if days and not (days.isascii() and days.isdigit() and len(days) < 6):
        raise Invalid("expiry must be a whole number of days")
    token, secret = issue_token(request.user, description=request.POST.get("description", ""),
                                scopes=request.POST.getlist("scopes"), ttl_days=int(days) if days else None)
    response = render(request, "console/tokens.html", {"tokens": request.user.api_tokens.all(), "scopes": SCOPES,
                                                       "new_token": token, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@console_view()
def token_revoke(request):
    token = revoke_token(request.user, request.POST.get("token", ""))
    return done(request, f"Revoked token {token.prefix}…", "/console/tokens/")
