"""API tokens of the calling user."""

from paas.platform.actions.tokens import issue_token, revoke_token
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import token_json


def list_tokens(request):
    """Your tokens (never their secrets)."""
    return [token_json(t) for t in request.user.api_tokens.all()]


@body_schema({"description": "string", "scopes": ["read", "write"], "expires_in_days": "integer"})
def create(request):
    """Create a token; its secret is shown only in this response."""
    data = request.data
    token, secret = issue_token(
        request.user,
        description=data.get("description", ""),
        scopes=data.get("scopes"),
        ttl_days=data.get("expires_in_days"),
    )
    return 201, {"token": secret, **token_json(token)}


def destroy(request, token_id):
    """Revoke a token at once."""
    return token_json(revoke_token(request.user, token_id))
