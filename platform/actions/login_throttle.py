"""Slowing down password guessing on every path that checks a password.

Failed logins are counted in Redis per account and per client address over
a window (PAAS_LOGIN_WINDOW_S, 15 min). Past PAAS_LOGIN_MAX_FAILURES for an
account (10), or five times that from one address, logins are refused with
429 and Retry-After until the window's first failure has aged out, before
the password is even checked, so a locked account confirms no guess. A
successful login clears its account's count. If Redis is away, logins still
work (the password hasher's cost is the remaining brake); it is logged.

The throttle sits in the authentication backend (``ThrottledModelBackend``, the
only one in AUTHENTICATION_BACKENDS), so every ``django.contrib.auth.authenticate()``
call is throttled: ``paas login`` (/api/login), Django admin's login form and the
console's. A locked-out login raises TooManyRequests out of ``authenticate()``;
the API turns it into 429, and forms built with ``ThrottledLoginFormMixin`` turn
it into a form error.
"""

import logging

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from paas.contracts import redis_keys
from paas.platform.exceptions import TooManyRequests
from paas.platform.names import text_problem
from paas.platform.redis_client import get_redis

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 5  # one address may carry several people's typos (an office behind NAT)
MAX_USERNAME = 150  # Django's username field


def _keys(username: str, address: str) -> list[str]:
    """The account's counter, then the address's (none when the caller has no address)."""
    keys = [redis_keys.login_failures(settings.PAAS_REDIS_PREFIX, "user", username.lower())]
    if address:
        keys.append(redis_keys.login_failures(settings.PAAS_REDIS_PREFIX, "addr", address))
    return keys


def wait_seconds(counts: list[tuple[int, int]], limits: list[int]) -> int:
    """Seconds until a login may be tried again: 0 when every (count, ttl) is under its limit."""
    return max([max(ttl, 1) for (count, ttl), limit in zip(counts, limits) if count >= limit], default=0)


def _limits() -> list[int]:
    return [settings.PAAS_LOGIN_MAX_FAILURES, settings.PAAS_LOGIN_MAX_FAILURES * ADDRESS_FACTOR]


def check(username: str, address: str) -> None:
    """Raise TooManyRequests while the account or the address is locked out."""
    _check(_keys(username, address), _limits(), "logins")


def failed(username: str, address: str) -> None:
    _count(_keys(username, address))


def succeeded(username: str, address: str) -> None:
    _clear(_keys(username, address)[0])


# Registry logins (actions/registrylogins.py) check a password with another party's registry: counted
# per platform account the same way, so the platform is no tool for guessing a registry's passwords.
def _registry_key(username: str) -> list[str]:
    return [redis_keys.login_failures(settings.PAAS_REDIS_PREFIX, "registry", username.lower())]


def check_registry(username: str) -> None:
    _check(_registry_key(username), [settings.PAAS_LOGIN_MAX_FAILURES], "registry logins")


def registry_failed(username: str) -> None:
    _count(_registry_key(username))


def registry_succeeded(username: str) -> None:
    _clear(_registry_key(username)[0])


def _check(keys: list[str], limits: list[int], what: str) -> None:
    try:
        pipe = get_redis().pipeline()
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        raw = pipe.execute()
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)
        return
    counts = [(int(raw[i] or 0), int(raw[i + 1])) for i in range(0, len(raw), 2)]
    wait = wait_seconds(counts, limits)
    if wait:
        raise TooManyRequests(f"too many failed {what}; try again in {wait} s", retry_after=wait)


def _count(keys: list[str]) -> None:
    try:
        pipe = get_redis().pipeline()
        for key in keys:
            # The window starts at the first failure; INCR keeps the expiry SET gave.
            pipe.set(key, 0, ex=settings.PAAS_LOGIN_WINDOW_S, nx=True)
            pipe.incr(key)
        pipe.execute()
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)


def _clear(key: str) -> None:
    try:
        get_redis().delete(key)
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)


def client_address(request) -> str:
    """The address a login comes from ("" without a request, e.g. a management command)."""
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class ThrottledModelBackend(ModelBackend):
    """Django's username and password check, behind the login throttle.

    A username that is not one line of valid text (NUL, a lone surrogate) can name
    no account: it is refused before it reaches PostgreSQL or Redis.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        if len(username) > MAX_USERNAME or text_problem(username) or text_problem(password, multiline=True):
            return None
        address = client_address(request)
        check(username, address)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            failed(username, address)
        else:
            succeeded(username, address)
        return user


class ThrottledLoginFormMixin:
    """For a Django AuthenticationForm: a locked-out login is a form error, not a crash.

    Admin's login form uses it (platform/admin.py); so should the console's.
    """

    def clean(self):
        try:
            return super().clean()
        except TooManyRequests as error:
            raise ValidationError(error.message, code="throttled") from None
