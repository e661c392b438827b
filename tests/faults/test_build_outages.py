"""A build across outages (and the platform lines of an app): its output while Redis is away (platform/builds/output.py): the build
goes on, the stream says how many lines it missed, and the follower (the git push) learns the
build's end from its row when the stream lost it; its last database steps after the connection
was cut (a PostgreSQL restart while it built, pipeline.with_database). Real PostgreSQL and Redis;
"away" is a client of a port where nothing listens."""

import datetime
import threading
import uuid

import pytest
import psycopg2
import redis as redis_lib
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import current_config
from paas.platform.actions.releases import create_release
from paas.platform.builds import output as output_module
from paas.platform.builds.output import OutputWriter, follow, stream_key
from paas.platform.builds.pipeline import with_database
from paas.platform.models import Build
from paas.platform.redis_client import get_redis
from tests.e2e.platform_procs import free_port


@pytest.fixture
def pusher(transactional_db):
    return get_user_model().objects.create_user(f"pusher-{uuid.uuid4().hex[:6]}", "p@example.com",
                                                "correct-horse-battery")


@pytest.fixture
def build(settings, pusher):
    settings.PAAS_REDIS_PREFIX = f"test-outage-{uuid.uuid4().hex[:10]}:"
    app = create_app(pusher, f"out-{uuid.uuid4().hex[:6]}")
    made = Build.objects.create(app=app, commit="a" * 40, ref="refs/heads/main", created_by=pusher,
                                status=Build.BUILDING)
    yield made
    get_redis().delete(stream_key(made.uuid))


def streamed(build: Build) -> list[str]:
    return [f[b"line"].decode() for _, f in get_redis().xrange(stream_key(build.uuid)) if b"line" in f]


def test_lines_written_while_redis_is_away_are_kept_and_counted(build):
    out = OutputWriter(build.uuid)
    live = out.redis
    out.line("-----> one")
    out.redis = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    out.line("two")
    out.line("three")
    out.end(Build.FAILED, message="lost")   # no exception: the row has the end
    out.redis = live
    out.line("four")
    assert out.text() == "-----> one\ntwo\nthree\nfour\n"
    assert streamed(build) == ["-----> one", "       (2 lines of output not shown while the platform's Redis was "
                                             "away: paas builds:info has them)", "four"]


def test_a_follower_learns_the_end_from_the_row_when_the_stream_lost_it(build, pusher):
    out = OutputWriter(build.uuid)
    out.line("-----> building")
    # The build succeeds (row and release, one transaction) while its end entry is lost.
    release = create_release(build.app, user=pusher, build=build, config=current_config(build.app), summary="d")
    Build.objects.filter(pk=build.pk).update(status=Build.SUCCEEDED)
    seen = []
    end = follow(build.uuid, seen.append, timeout=30, block_ms=100, end_grace_s=1)
    assert seen == ["-----> building"]
    assert (end.status, end.release) == (Build.SUCCEEDED, release.version)


def test_lines_streamed_after_the_row_ends_the_build_still_reach_the_follower(build, pusher, monkeypatch):
    """The worker commits the release, then streams "Released vN" and the end: a follower whose
    stream went quiet meanwhile (a slow release step) must not end on the row and drop them."""
    out = OutputWriter(build.uuid)
    out.line("-----> building")
    release = create_release(build.app, user=pusher, build=build, config=current_config(build.app), summary="d")
    Build.objects.filter(pk=build.pk).update(status=Build.SUCCEEDED)
    row_seen = threading.Event()
    real_ended = output_module.ended

    def ended_then_signal(build_uuid):   # the follower has read the row's end: now the worker goes on
        end = real_ended(build_uuid)
        if end is not None:
            row_seen.set()
        return end

    def stream_the_rest():
        row_seen.wait(30)
        out.line(f"-----> Released v{release.version}")
        out.end(Build.SUCCEEDED, release=release.version)

    monkeypatch.setattr(output_module, "ended", ended_then_signal)
    writer = threading.Thread(target=stream_the_rest)
    writer.start()
    seen = []
    try:
        end = follow(build.uuid, seen.append, timeout=30, block_ms=100)
    finally:
        row_seen.set()
        writer.join()
    assert seen == ["-----> building", f"-----> Released v{release.version}"]
    assert (end.status, end.release) == (Build.SUCCEEDED, release.version)


def test_a_failed_build_ends_the_follow_with_its_reason(build):
    Build.objects.filter(pk=build.pk).update(status=Build.FAILED, error="no buildpack detected")
    end = follow(build.uuid, lambda line: None, timeout=30, block_ms=100, end_grace_s=1)
    assert (end.status, end.message, end.release) == (Build.FAILED, "no buildpack detected", None)


def test_a_build_step_outlives_a_cut_database_connection(build):
    connection.ensure_connection()
    backend = connection.connection.get_backend_pid()
    killer = psycopg2.connect(**connection.get_connection_params())
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        killer.close()
    done = with_database(lambda: Build.objects.filter(pk=build.pk).update(status=Build.FAILED, error="x"))
    assert done == 1
    assert connection.connection.get_backend_pid() != backend


def test_platform_lines_not_written_while_redis_is_away_are_counted_by_the_next(build, monkeypatch):
    from paas.platform import logs as platform_logs

    app = build.app.name
    away = redis_lib.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    monkeypatch.setattr(platform_logs, "get_redis", lambda: away)    # this process's client: Redis away
    platform_logs.write_platform_line(app, "Scaled web to 2")
    platform_logs.write_platform_line(app, "Deployed v3", release=3)
    monkeypatch.setattr(platform_logs, "get_redis", get_redis)
    platform_logs.write_platform_line(app, "Deployed v4", release=4)
    key = platform_logs.stream_key(app)
    try:
        lines = [f[b"line"].decode() for _, f in get_redis().xrange(key)]
    finally:
        get_redis().delete(key)
    assert lines[-2:] == ["[paas: 2 platform lines not logged while the platform's Redis was away; "
                          "paas events has them]", "Deployed v4"]
    assert "Scaled web to 2" not in lines


def test_a_pending_build_whose_queue_message_was_lost_is_queued_again(build, settings):
    from paas.platform.builds import recovery

    settings.PAAS_BUILD_QUEUE = f"test-outage-{uuid.uuid4().hex[:10]}"
    client = get_redis()
    try:
        # Pushed a while ago; then Redis restarted empty: no message, no queued mark.
        Build.objects.filter(pk=build.pk).update(
            status=Build.PENDING, created_at=timezone.now() - datetime.timedelta(seconds=recovery.PENDING_GRACE_S + 5))
        assert recovery.requeue_lost_pending() == 1
        assert client.llen(settings.PAAS_BUILD_QUEUE) == 1
        assert client.exists(recovery.queued_key(build.uuid))
        # Queued and marked: not again while the mark lasts.
        assert recovery.recover_orphaned_builds() == 0
        assert client.llen(settings.PAAS_BUILD_QUEUE) == 1
    finally:
        client.delete(settings.PAAS_BUILD_QUEUE, recovery.queued_key(build.uuid))
