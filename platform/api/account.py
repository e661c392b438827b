"""Logging in, who am I, and (for admins) creating accounts."""

from django.conf import settings
from django.contrib.auth import authenticate

from paas.platform.actions.tokens import issue_token
from paas.platform.actions.users import create_user
from paas.platform.api.origin import git_base
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import token_json
from paas.platform.exceptions import Invalid, Unauthorized


@body_schema({"username": "string", "password": "string", "description": "string", "expires_in_days": "integer"})
def login(request):
    """Exchange a username and password for a new API token (throttled: see actions/login_throttle.py)."""
    username = request.data.get("username")
    password = request.data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise Invalid("give username and password")
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise Unauthorized("wrong username or password")
    token, secret = issue_token(
        user,
        description=request.data.get("description") or "paas login",
        ttl_days=request.data.get("expires_in_days"),
    )
    return 201, {"token": secret, "username": user.username, **token_json(token)}


def whoami(request):
    """The account behind the token."""
    user = request.user
    return {
        "username": user.username,
        "email": user.email,
        "admin": user.is_staff,
        "teams": [m.team.name for m in user.team_memberships.select_related("team")],
        "token": {"prefix": request.token.prefix, "scopes": request.token.scopes},
        "api_url": settings.PAAS_API_URL,
        "git_url": git_base(request),
    }


@body_schema({"username": "string", "password": "string", "email": "string", "admin": "boolean"})
def create_account(request):
    """Create an account (admins only)."""
    data = request.data
    user = create_user(
        request.user,
        data.get("username"),
        data.get("password") if isinstance(data.get("password"), str) else "",
        email=data.get("email") or "",
        is_admin=data.get("admin") is True,
    )
    return 201, {"username": user.username, "email": user.email, "admin": user.is_staff}
