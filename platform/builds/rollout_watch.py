"""After a build: wait for its release to roll out, so the push can say "done" or why not."""

import time

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from paas.logcenter.schema import release_label
from paas.platform import logs
from paas.platform.models import Release

POLL_S = 0.25
TAIL_LINES = 15


def wait_for_rollout(app_name: str, version: int, timeout: float) -> Release | None:
    """The release once it has succeeded or failed; None if neither happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        try:
            release = Release.objects.filter(app__name=app_name, version=version).first()
        except DatabaseError:   # the database restarting: ask again (close_old_connections reconnects)
            time.sleep(POLL_S)
            continue
        if release is None or release.status in (Release.SUCCEEDED, Release.FAILED):
            return release
        time.sleep(POLL_S)
    return None


def app_output(app_name: str, version: int) -> list[str]:
    """The last lines the release's instances printed, to show why a rollout failed."""
    try:
        rows = logs.recent(app_name, TAIL_LINES, source="app")
    except redis.RedisError:
        return []   # Redis away: the push says why without the app's last lines
    return [f"{row.get('process', '')}: {row.get('line', '')}" for row in rows if row.get("release") == release_label(version)]


def rollout_timeout() -> float:
    # The control loop fails a rollout after the prepare and start timeouts at most; allow for its ticks.
    return settings.PAAS_PREPARE_TIMEOUT_S + settings.PAAS_START_TIMEOUT_S + 30
