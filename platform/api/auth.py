"""Who is calling: a bearer token (or a token as the HTTP basic password, as git sends it)."""

import base64
import binascii

from paas.platform.actions.tokens import authenticate
from paas.platform.exceptions import Forbidden, Unauthorized
from paas.platform.models import APIToken

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def token_from_header(header: str) -> str:
    """Extract the token from ``Bearer <t>`` or ``Basic base64(any:<t>)``."""
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip()
    if scheme == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed basic credentials") from None
        return decoded.partition(":")[2]
    raise Unauthorized("authenticate with 'Authorization: Bearer <token>' (see paas login)")


def authenticate_request(request) -> APIToken:
    return token_for(request.headers.get("Authorization", ""), request.method)


def token_for(header: str, method: str) -> APIToken:
    """The token an Authorization header carries, if it may make a ``method`` request."""
    if not header:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' (see paas login)")
    token = authenticate(token_from_header(header))
    needed = APIToken.READ if method in SAFE_METHODS else APIToken.WRITE
    if not token.allows(needed):
        raise Forbidden(f"this token lacks the {needed!r} scope")
    return token
