"""One push per app at a time, so two builds never interleave their releases."""

from django.conf import settings
from redis.exceptions import LockError, RedisError

from paas.contracts import redis_keys
from paas.platform.redis_client import get_redis


class PushLock:
    def __init__(self, app_name: str):
        # Expires on its own if the holder dies, after the longest a build may take.
        self.lock = get_redis().lock(
            redis_keys.push_lock(settings.PAAS_REDIS_PREFIX, app_name), timeout=settings.PAAS_BUILD_TIMEOUT_S + 600, blocking=False
        )

    def acquire(self) -> bool:
        return bool(self.lock.acquire())

    def release(self) -> None:
        try:
            self.lock.release()
        except LockError:  # expired already: nothing left to release
            pass
        except RedisError:  # Redis away: the lock expires by itself (and went if Redis restarted)
            pass
