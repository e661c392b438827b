"""Builds whose worker died: queued again, or failed with the reason, by the control loop.

A "building" build whose lease (lease.py) has lapsed has no live worker: it was killed mid-build
(``kill -9``, a lost host, an upgrade). Level-triggered like the rest of the control loop, each
tick finds such builds and puts them back in the queue, up to MAX_ATTEMPTS starts in all; after
that the build fails with a reason the pusher reads, so a push never waits for a build nobody
runs, and never reports success without a release (the git receiver waits for the build's end).
"""

import datetime
import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.contracts import redis_keys
from paas.platform.builds.lease import ATTEMPTS_TTL_S, LEASE_TTL_S, RENEW_EVERY_S, attempts_key, is_held
from paas.platform.builds.output import OutputWriter
from paas.platform.models import Build
from paas.platform.redis_client import get_redis

log = logging.getLogger(__name__)

#: Starts of one build in all: a build that kills its worker every time (a runaway that takes the
#: machine's memory) must not do so forever.
MAX_ATTEMPTS = 3

#: A pending build is queued again when its queued mark is gone (lost with a Redis restart, or
#: lapsed: a build waiting this long for a worker gets one more message, skipped if it is built).
QUEUED_MARK_TTL_S = 600
PENDING_GRACE_S = 30

#: A Redis restart empties it of leases until each worker's next renewal: a lease counts as gone
#: only when this loop has seen it missing for longer than two renewals.
MISSING_FOR_S = 2 * RENEW_EVERY_S + 1
_missing_since: dict[str, float] = {}


def recover_orphaned_builds() -> int:
    """Queue again (or fail) every building build without a live worker; return how many were."""
    from paas.platform.builds.pipeline import fail

    # A lease is taken in the same transaction that marks the build building; one older than its
    # lifetime with no lease left has lost its worker.
    cutoff = timezone.now() - datetime.timedelta(seconds=LEASE_TTL_S)
    candidates = list(Build.objects.filter(status=Build.BUILDING, started_at__lt=cutoff)
                      .values_list("pk", "uuid"))
    recovered = 0
    now = time.monotonic()
    for known in set(_missing_since) - {str(uuid) for _, uuid in candidates}:
        del _missing_since[known]
    for pk, uuid in candidates:
        if is_held(uuid):
            _missing_since.pop(str(uuid), None)
            continue
        if now - _missing_since.setdefault(str(uuid), now) < MISSING_FOR_S:
            continue
        with transaction.atomic():
            # skip_locked: another control loop (or a worker claiming it) has it in hand.
            build = (Build.objects.select_for_update(skip_locked=True).select_related("app")
                     .filter(pk=pk, status=Build.BUILDING).first())
            if build is None or is_held(uuid):
                continue
            redis = get_redis()
            attempts = redis.incr(attempts_key(uuid))
            redis.expire(attempts_key(uuid), ATTEMPTS_TTL_S)
            out = OutputWriter(uuid)
            if attempts >= MAX_ATTEMPTS:
                reason = f"the build worker stopped during this build {attempts} times; it is not tried again"
                fail(build, out, reason)
                log.warning("build %s failed: its worker stopped %d times", uuid, attempts)
            else:
                out.line("-----> The build worker stopped during this build; it is queued again")
                Build.objects.filter(pk=pk).update(status=Build.PENDING)
                transaction.on_commit(lambda pk=pk, uuid=uuid: enqueue(pk, uuid))
                log.warning("build %s queued again: its worker stopped (attempt %d)", uuid, attempts + 1)
            _missing_since.pop(str(uuid), None)
            recovered += 1
    return recovered + requeue_lost_pending()


def queued_key(build_uuid) -> str:
    return redis_keys.build_queued(settings.PAAS_REDIS_PREFIX, build_uuid)


def enqueue(build_pk: int, build_uuid) -> None:
    """Put the build's task in the queue, and mark it queued: the mark (which a Redis restart
    empties, with the queue) is how requeue_lost_pending knows the message may be gone."""
    from paas.platform.tasks.builds import build as build_task

    build_task.apply_async(args=[build_pk], queue=settings.PAAS_BUILD_QUEUE)
    get_redis().set(queued_key(build_uuid), "1", ex=QUEUED_MARK_TTL_S)


def requeue_lost_pending() -> int:
    """Queue again each build pending for over PENDING_GRACE_S without its queued mark: its message
    was lost (a Redis restart, or Redis away when it was pushed). A duplicate message is harmless:
    ``pipeline.claim`` runs a build once (its lease) and never after it finished."""
    cutoff = timezone.now() - datetime.timedelta(seconds=PENDING_GRACE_S)
    requeued = 0
    client = get_redis()
    for pk, uuid in Build.objects.filter(status=Build.PENDING, created_at__lt=cutoff).values_list("pk", "uuid"):
        if client.exists(queued_key(uuid)):
            continue
        enqueue(pk, uuid)
        log.warning("build %s queued again: its queue message was lost", uuid)
        requeued += 1
    return requeued
