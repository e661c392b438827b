"""A build whose worker died: its lease lapses, the control loop queues it again (a bounded number
of times) or fails it with a reason the pusher reads; a second worker never runs a leased build.
Real PostgreSQL and Redis; the queue is this test's own."""

import datetime
import uuid

import pytest
from django.utils import timezone

from paas.platform.actions.apps import create_app
from paas.platform.builds import lease, recovery
from paas.platform.builds.output import follow
from paas.platform.builds.pipeline import claim, publish
from paas.platform.models import Build
from paas.platform.redis_client import get_redis


@pytest.fixture
def own_keys(settings):
    settings.PAAS_REDIS_PREFIX = f"test-recovery-{uuid.uuid4().hex[:10]}:"
    settings.PAAS_BUILD_QUEUE = f"test-recovery-{uuid.uuid4().hex[:10]}"
    yield settings
    redis = get_redis()
    keys = list(redis.scan_iter(match=settings.PAAS_REDIS_PREFIX + "*", count=1000))
    redis.delete(*keys, settings.PAAS_BUILD_QUEUE)


@pytest.fixture
def orphan(transactional_db, own_keys, alice):
    """A build left "building" by a worker that died: started long ago, no lease."""
    app = create_app(alice, f"rec-{uuid.uuid4().hex[:6]}")
    return Build.objects.create(app=app, commit="a" * 40, ref="refs/heads/main", created_by=alice,
                                status=Build.BUILDING,
                                started_at=timezone.now() - datetime.timedelta(seconds=lease.LEASE_TTL_S + 5))


def queued(settings) -> int:
    return get_redis().llen(settings.PAAS_BUILD_QUEUE)


def looked_at_twice(monkeypatch):
    """The loop requeues only a lease it has seen missing for a while (a Redis restart empties
    Redis of leases until the next renewal): make the first look long past."""
    recovery.recover_orphaned_builds()
    for key in list(recovery._missing_since):
        recovery._missing_since[key] -= recovery.MISSING_FOR_S + 1
    return recovery.recover_orphaned_builds()


def test_an_orphaned_build_is_queued_again_and_then_failed_with_a_reason(orphan, own_keys, monkeypatch):
    # Seen missing once is not yet orphaned (the lease may be on its way back after a Redis restart).
    assert recovery.recover_orphaned_builds() == 0
    assert Build.objects.get(pk=orphan.pk).status == Build.BUILDING

    for attempt in (1, 2):
        assert looked_at_twice(monkeypatch) == 1
        assert Build.objects.get(pk=orphan.pk).status == Build.PENDING
        assert queued(own_keys) == attempt
        # The queued task's claim takes the lease and marks it building again; its worker dies too.
        claimed = claim(orphan.pk)
        assert claimed is not None and claimed[2] is True   # an earlier attempt was under way
        claimed[1].done.set()
        get_redis().delete(lease.lease_key(orphan.uuid))
        Build.objects.filter(pk=orphan.pk).update(
            started_at=timezone.now() - datetime.timedelta(seconds=lease.LEASE_TTL_S + 5))

    assert looked_at_twice(monkeypatch) == 1
    failed = Build.objects.get(pk=orphan.pk)
    assert failed.status == Build.FAILED
    assert failed.error == "the build worker stopped during this build 3 times; it is not tried again"
    # What the git receiver shows the pusher: the lines, then the end with the reason.
    lines = []
    end = follow(orphan.uuid, lines.append, timeout=15)
    assert end.status == Build.FAILED and "stopped during this build 3 times" in end.message
    assert lines.count("-----> The build worker stopped during this build; it is queued again") == 2
    assert queued(own_keys) == 2


def test_a_build_whose_lease_is_held_is_left_alone_and_not_claimed_twice(orphan, own_keys, monkeypatch):
    held = lease.Lease(orphan.uuid)
    assert held.acquire()
    try:
        assert looked_at_twice(monkeypatch) == 0
        assert Build.objects.get(pk=orphan.pk).status == Build.BUILDING
        assert queued(own_keys) == 0
        # A redelivered message for it (Celery's own, an hour later) finds it taken.
        assert claim(orphan.pk) is None
    finally:
        held.release()
    assert not lease.is_held(orphan.uuid)


def test_a_finished_build_is_never_published_again(orphan, own_keys):
    Build.objects.filter(pk=orphan.pk).update(status=Build.SUCCEEDED)
    assert claim(orphan.pk) is None
    # An attempt whose lease lapsed finishes after another: its result is dropped, no second release.
    releases = orphan.app.releases.count()
    assert publish(orphan, slug=None, image=None, out=None) is None
    assert orphan.app.releases.count() == releases
