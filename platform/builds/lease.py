"""Who is building a build right now: a lease in Redis that the building worker keeps alive.

A build worker killed mid-build (``kill -9``, a lost host, an upgrade that could not wait)
leaves its Build row "building" forever and its Celery message unacknowledged: with the Redis
broker, Celery would hand that message out again only after its visibility timeout (an hour).
So the worker that claims a build holds ``<prefix>builds:<uuid>:lease`` (``SET NX`` with a
short expiry) and renews it from a thread while it builds. The control loop
(``recovery.recover_orphaned_builds``) treats a "building" build without a lease as orphaned
and queues it again, a bounded number of times; ``pipeline.claim`` refuses a build whose lease
someone else holds, so a late redelivery of the old message never runs it twice at once.
"""

import logging
import os
import socket
import threading

from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.redis_client import get_redis

log = logging.getLogger(__name__)

#: A lease lives this long unless renewed: how soon a dead worker's build counts as orphaned.
LEASE_TTL_S = 15
#: How often the building worker renews it (several renewals per TTL, so a slow one is no loss).
RENEW_EVERY_S = 3.0
#: The attempt counter's lifetime: the longest a build may wait for its attempts.
ATTEMPTS_TTL_S = 24 * 3600


def lease_key(build_uuid) -> str:
    return redis_keys.build_lease(settings.PAAS_REDIS_PREFIX, build_uuid)


def attempts_key(build_uuid) -> str:
    return redis_keys.build_attempts(settings.PAAS_REDIS_PREFIX, build_uuid)


def holder_name() -> str:
    """This worker process, as the lease records it (for operators reading Redis)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_held(build_uuid) -> bool:
    """Whether a live worker holds the build's lease."""
    return bool(get_redis().exists(lease_key(build_uuid)))


class Lease:
    """The build's lease, held from ``acquire`` until ``release``, renewed by a thread meanwhile."""

    def __init__(self, build_uuid):
        self.key = lease_key(build_uuid)
        self.holder = holder_name()
        self.redis = get_redis()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._renew, daemon=True, name=f"lease-{build_uuid}")

    def acquire(self) -> bool:
        """Take the lease; False when another worker holds it."""
        if not self.redis.set(self.key, self.holder, nx=True, ex=LEASE_TTL_S):
            return False
        self.thread.start()
        return True

    def release(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        try:
            self.redis.delete(self.key)
        except Exception as error:  # an expired lease is as good as a released one
            log.warning("build lease %s not released: %s", self.key, error)

    def _renew(self) -> None:
        while not self.done.wait(RENEW_EVERY_S):
            try:
                # Renewed only while it is ours (or lapsed while Redis was away); if another worker
                # took it meanwhile, ``pipeline.publish`` keeps that worker's result, not a second one.
                if self.redis.get(self.key) in (None, self.holder.encode()):
                    self.redis.set(self.key, self.holder, ex=LEASE_TTL_S)
            except Exception as error:  # Redis away for a moment: the next renewal retries
                log.warning("build lease %s not renewed: %s", self.key, error)
