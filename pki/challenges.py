"""ACME HTTP-01 challenges (RFC 8555 section 8.3): the rules Platform Control and the router share.

Platform Control writes each pending challenge into the Redis hash ``acme:challenges``
(contracts/redis_keys.py) as field ``<hostname> <token>`` -> key authorization; the router
answers ``GET /.well-known/acme-challenge/<token>`` on that host from it. The field names the
host, so a token published for one app's domain is never answered at another's.

Tokens are base64url (RFC 8555: at least 128 bits of entropy; 43 characters in practice).
Anything else in the path, ``..``, ``%2e``, a slash, an oversized token, is not a token.
"""

import re

PATH_PREFIX = b"/.well-known/acme-challenge/"
MAX_TOKEN = 128
# <token>.<base64url SHA-256 thumbprint of the account key>: the thumbprint is 43 characters.
MAX_KEY_AUTHORIZATION = MAX_TOKEN + 1 + 64
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,%d}" % MAX_TOKEN)
_KEY_AUTHORIZATION = re.compile(r"([A-Za-z0-9_-]{16,%d})\.[A-Za-z0-9_-]{16,64}" % MAX_TOKEN)


def valid_token(token) -> bool:
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def token_in_path(target: bytes) -> str | None:
    """The token of a challenge request target, or None when the target is not one (or not a sane one).

    A query string is not part of the token; a token with anything but base64url characters
    (a traversal, an escape, a second path segment) is no token at all.
    """
    if not target.startswith(PATH_PREFIX):
        return None
    raw = target[len(PATH_PREFIX):].split(b"?", 1)[0]
    try:
        token = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return token if valid_token(token) else None


def field(host: str, token: str) -> str:
    """The hash field of ``token`` on ``host`` (lowercase, no port, no trailing dot)."""
    if not valid_token(token):
        raise ValueError("not an ACME challenge token")
    return f"{host.lower().rstrip('.')} {token}"


def valid_key_authorization(token: str, value) -> bool:
    """Whether ``value`` is a key authorization for ``token`` (what the ACME server expects to read)."""
    if not isinstance(value, str) or len(value) > MAX_KEY_AUTHORIZATION:
        return False
    match = _KEY_AUTHORIZATION.fullmatch(value)
    return match is not None and match.group(1) == token
