"""API tokens: issued once in clear, stored hashed, scoped, revocable, expiring."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.exceptions import Forbidden, Invalid, NotFound, Unauthorized
from paas.platform.models import APIToken
from paas.platform.names import check_text

TOKEN_PREFIX = "paas_"
MAX_TTL_DAYS = 3650


def issue_token(user, *, description: str = "", scopes=None, ttl_days=None) -> tuple[APIToken, str]:
    """Create a token and return it with its secret, which is never shown again."""
    scopes = check_scopes(scopes if scopes is not None else list(APIToken.SCOPES))
    ttl_days = settings.PAAS_TOKEN_TTL_DAYS if ttl_days is None else ttl_days
    if type(ttl_days) is not int or not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise Invalid(f"expiry must be a whole number of days from 1 to {MAX_TTL_DAYS}")
    check_text(description, "description", max_length=200)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = APIToken.objects.create(
            user=user,
            description=description,
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            digest=APIToken.hash(secret),
            scopes=scopes,
            expires_at=timezone.now() + timedelta(days=ttl_days),
        )
        record(user, "token.create", f"created token {token.prefix}… ({', '.join(scopes)})", token=token.pk)
    return token, secret


def check_scopes(scopes) -> list[str]:
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise Invalid(f"scopes must be a non-empty list drawn from: {', '.join(APIToken.SCOPES)}")
    unknown = sorted(set(scopes) - set(APIToken.SCOPES))
    if unknown:
        raise Invalid(f"unknown scope {', '.join(unknown)}; scopes are: {', '.join(APIToken.SCOPES)}")
    return sorted(set(scopes))


def authenticate(secret: str) -> APIToken:
    """Return the active token for ``secret`` or raise Unauthorized saying why."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        raise Unauthorized("invalid token")
    try:
        token = APIToken.objects.select_related("user").get(digest=APIToken.hash(secret))
    except APIToken.DoesNotExist:
        raise Unauthorized("invalid token") from None
    if token.revoked_at is not None:
        raise Unauthorized("this token has been revoked; log in again (paas login)")
    if not token.is_active():
        raise Unauthorized("this token has expired; log in again (paas login)")
    if not token.user.is_active:
        raise Unauthorized("this account is disabled")
    now = timezone.now()
    # Write last-use at most once a minute: not a write per request.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke_token(user, token_id) -> APIToken:
    try:
        token = APIToken.objects.get(pk=int(token_id))
    except (ValueError, TypeError, APIToken.DoesNotExist):
        raise NotFound(f"token {token_id!r} not found") from None
    if token.user_id != user.pk and not user.is_staff:
        raise Forbidden("you can only revoke your own tokens")
    with transaction.atomic():
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record(user, "token.revoke", f"revoked token {token.prefix}…", token=token.pk)
    return token
