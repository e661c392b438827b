"""Asking the loops for a pass now: the control loop (``control:wake``) and the host agents (``agent:wake``).

Actions call ``wake`` after they change desired state (a release, a scale, a domain); the control
loop calls ``wake_agents`` when it assigned or stopped instances. Both are best effort: a lost
message costs a loop's interval, never a wrong state (loop.py). A module of its own so that
actions need not import the loop, which imports actions.
"""

import logging

import redis
from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.redis_client import get_redis

log = logging.getLogger("paas.control")


def wake_channel() -> str:
    return redis_keys.control_wake(settings.PAAS_REDIS_PREFIX)


APP_PREFIX = "app:"
# An agent's report that an instance of the app came up, crashed or stopped: its routes change first.
STATE_PREFIX = "state:"


def wake(app_id: int | None = None) -> None:
    """Ask the control loops for a tick now (after a release or a scale).

    With ``app_id`` (a scale, a one-off: what a user waits on) the loop first places that one
    app's instances before its full tick (loop.py ``fast_pass``). Best effort: if Redis is away,
    the loops' own interval still gets there.
    """
    try:
        get_redis().publish(wake_channel(), wake_message(app_id))
    except redis.RedisError as error:
        log.warning("could not wake the control loop: %s", error)


def wake_agents() -> None:
    """Instances were assigned or stopped: agents act now rather than at their next interval."""
    try:
        get_redis().publish(redis_keys.agent_wake(settings.PAAS_REDIS_PREFIX), "1")
    except redis.RedisError as error:
        log.warning("could not wake the agents: %s", error)


def wake_message(app_id: int | None, state_change: bool = False) -> str:
    """What a wake publishes: the app it concerns, when there is one, and whether an instance of it
    changed state (an agent's report: the fast pass publishes the routes before anything else)."""
    if app_id is None:
        return "1"
    return f"{STATE_PREFIX if state_change else APP_PREFIX}{int(app_id)}"


def woken_app(data: bytes) -> int | None:
    """The app id a wake message names, or None (a plain wake, or anything else on the channel)."""
    text = data.decode("ascii", "replace")
    prefix = next((p for p in (APP_PREFIX, STATE_PREFIX) if text.startswith(p)), None)
    number = text[len(prefix):] if prefix else ""
    return int(number) if number.isascii() and number.isdigit() and len(number) < 19 else None


def names_a_state_change(data: bytes) -> bool:
    """Does the message (naming an app, woken_app) come from an instance's state change?"""
    return data.startswith(STATE_PREFIX.encode())
