"""The control loop's database side: rollouts, placement, down hosts, the router table."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from paas.platform.actions.apps import create_app, destroy_app
from paas.platform.actions.releases import create_release
from paas.platform.control.deploys import reconcile_app
from paas.platform.control.routes import RoutePublisher
from paas.platform.control.scheduling import mark_down_hosts, place_pending
from paas.platform.models import Build, Domain, Event, Formation, Host, Instance, Release
from paas.platform.redis_client import get_redis
from tests.platform.accounts import make_user


@pytest.fixture
def app(db):
    owner = make_user(f"owner{time.monotonic_ns() % 10**8}")
    return create_app(owner, f"ctl-{time.monotonic_ns() % 10**8}")


def deploy(app, types=("web",)):
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, slug_digest="sha256:" + "a" * 64,
                                 process_types={t: f"run-{t}" for t in types})
    return create_release(app, user=app.owner, build=build, config=app.latest_release().config, summary="Deploy")


def host(name, memory=4096, heartbeat=True):
    return Host.objects.create(name=name, address="10.0.0.1", memory_mb=memory, cpus=4,
                               last_heartbeat=timezone.now() if heartbeat else None, stacks=["host"])


def mark(app, state, **fields):
    app.instances.filter(desired_state=Instance.RUNNING).update(state=state, **fields)


def test_a_release_rolls_out_and_replaces_the_old_one(app):
    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=2)
    v2 = deploy(app)
    reconcile_app(app.pk, time.time())
    assert app.instances.filter(release=v2).count() == 2
    assert Release.objects.get(pk=v2.pk).status == "deploying"
    place_pending()
    assert set(app.instances.values_list("host__name", flat=True)) == {"h1"}
    mark(app, Instance.UP, address="10.1.0.2", port=5000)
    reconcile_app(app.pk, time.time())
    assert Release.objects.get(pk=v2.pk).status == "succeeded"
    v3 = deploy(app)
    reconcile_app(app.pk, time.time())
    assert app.instances.filter(release=v3, desired_state="running").count() == 2
    assert app.instances.filter(release=v2, desired_state="running").count() == 2  # still serving
    app.instances.filter(release=v3).update(state=Instance.UP, address="10.1.0.3", port=5000)
    reconcile_app(app.pk, time.time())
    assert Release.objects.get(pk=v3.pk).status == "succeeded"
    reconcile_app(app.pk, time.time())  # the next tick, after the router switched: the old ones stop
    assert not app.instances.filter(release=v2, desired_state="running").exists()
    assert Event.objects.filter(app=app, action="deploy.succeeded").count() == 2


def test_a_failed_rollout_leaves_the_serving_release(app):
    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    v2 = deploy(app)
    reconcile_app(app.pk, time.time())
    mark(app, Instance.UP, address="10.1.0.2", port=5000)
    reconcile_app(app.pk, time.time())
    v3 = deploy(app)
    reconcile_app(app.pk, time.time())
    app.instances.filter(release=v3).update(state=Instance.CRASHED, exit_code=1)
    reconcile_app(app.pk, time.time())
    v3.refresh_from_db()
    assert v3.status == "failed" and "exited with code 1" in v3.status_message
    assert app.instances.filter(release=v2, desired_state="running").count() == 1
    reconcile_app(app.pk, time.time())  # steady again on v2
    assert app.instances.filter(release=v2, desired_state="running").count() == 1
    assert not app.instances.filter(release=v3, desired_state="running").exists()


def test_unplaceable_instances_say_why(app):
    host("tiny", memory=100)
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    reconcile_app(app.pk, time.time())
    place_pending()
    instance = app.instances.get()
    assert instance.state == Instance.UNPLACED and "256 MB" in instance.unplaced_reason
    place_pending()
    assert Event.objects.filter(app=app, action="instance.unplaced").count() == 1


def test_a_silent_host_is_marked_down_and_its_instances_move(app, settings):
    settings.PAAS_HOST_DOWN_AFTER_S = 5
    stale = host("old")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    reconcile_app(app.pk, time.time())
    place_pending()
    Host.objects.filter(pk=stale.pk).update(last_heartbeat=timezone.now() - timedelta(seconds=60))
    fresh = host("new")
    assert mark_down_hosts() == ["old"]
    place_pending()
    assert app.instances.get().host == fresh
    Host.objects.filter(pk=stale.pk).update(last_heartbeat=timezone.now())
    mark_down_hosts()
    assert Host.objects.get(pk=stale.pk).state == Host.UP


def test_the_router_table_lists_up_web_instances_of_the_serving_release(app):
    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    Domain.objects.create(app=app, hostname="www.ctl.example", verified_at=timezone.now(), verified_by=Domain.BY_DNS)
    Domain.objects.create(app=app, hostname="pending.ctl.example")  # never verified: not routed
    reconcile_app(app.pk, time.time())
    place_pending()
    mark(app, Instance.UP, address="10.1.0.2", port=5000)
    reconcile_app(app.pk, time.time())
    redis = get_redis()
    prefix = f"test{time.monotonic_ns()}:"
    try:
        assert app.name in RoutePublisher(prefix).publish()
        entry = json.loads(redis.get(f"{prefix}router:app:{app.name}"))
        assert [(b["address"], b["port"]) for b in entry["backends"]] == [("10.1.0.2", 5000)]
        assert redis.hget(f"{prefix}router:hosts", f"{app.name}.localhost") == app.name.encode()
        assert redis.hget(f"{prefix}router:hosts", "www.ctl.example") == app.name.encode()
        assert redis.hget(f"{prefix}router:hosts", "pending.ctl.example") is None
        assert RoutePublisher(prefix).publish() == []  # nothing changed, nothing announced
        destroy_app(app.owner, app, app.name)
        assert RoutePublisher(prefix).publish() == [entry["app"]]
        assert redis.get(f"{prefix}router:app:{entry['app']}") is None
    finally:
        for key in redis.scan_iter(f"{prefix}*"):
            redis.delete(key)


def test_crashes_become_events_once(app):
    from paas.platform.control.crashes import report_crashes

    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    reconcile_app(app.pk, time.time())
    app.instances.update(state=Instance.CRASHED, exit_code=2, restarts=1)
    assert report_crashes() == 1
    assert report_crashes() == 0
    app.instances.update(state=Instance.OOM_KILLED, exit_code=137, restarts=6)
    assert report_crashes() == 1
    messages = list(Event.objects.filter(app=app, action__in=["instance.crash", "instance.oom"])
                    .order_by("id").values_list("message", flat=True))
    assert "exited with code 2; restart #1" in messages[0]
    assert "more than its 256 MB" in messages[1] and "crash loop" in messages[1]


def test_instances_stopped_before_the_retention_period_are_forgotten(app, settings):
    from paas.platform.control.retention import prune_stopped
    from paas.platform.usage import usage

    settings.PAAS_INSTANCE_RETENTION_DAYS = 30
    Formation.objects.create(app=app, process_type="web", quantity=3)
    deploy(app)
    reconcile_app(app.pk, time.time())
    now = timezone.now()
    old, recent, running = app.instances.order_by("number")
    long_ago = now - timedelta(days=45)
    Instance.objects.filter(pk=old.pk).update(desired_state=Instance.STOP, state=Instance.STOPPED,
                                              started_at=long_ago - timedelta(days=1), stopped_at=long_ago,
                                              updated_at=long_ago)
    Instance.objects.filter(pk=recent.pk).update(desired_state=Instance.STOP, state=Instance.STOPPED,
                                                 started_at=now - timedelta(days=3), stopped_at=now - timedelta(days=2),
                                                 updated_at=now - timedelta(days=2))
    Instance.objects.filter(pk=running.pk).update(started_at=long_ago, updated_at=long_ago)  # running all along
    assert prune_stopped(now, force=True) == 1
    assert set(app.instances.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert prune_stopped(now) == 0  # not again before PRUNE_EVERY_S
    month = usage([app], now - timedelta(days=30), now)
    assert round(month[0]["instance_hours"]) == 30 * 24 + 24  # the running one's month and the recent day


def test_the_loop_ticks_fast_only_while_work_is_in_flight(app):
    from paas.platform.control.loop import in_flight

    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    assert not in_flight()  # an app with no code: nothing to do until something wakes the loop
    v2 = deploy(app)
    assert in_flight()  # a release to roll out
    reconcile_app(app.pk, time.time())
    place_pending()
    assert in_flight()  # its instance on the way up
    mark(app, Instance.UP, address="10.1.0.2", port=5000)
    assert reconcile_app(app.pk, time.time())  # the release went live: tick again soon
    assert Release.objects.get(pk=v2.pk).status == "succeeded"
    assert not reconcile_app(app.pk, time.time())
    assert not in_flight()  # serving, settled: the idle interval applies
    v3 = deploy(app)
    reconcile_app(app.pk, time.time())
    place_pending()
    app.instances.filter(release=v3).update(state=Instance.UP, address="10.1.0.3", port=5000)
    assert reconcile_app(app.pk, time.time())  # v3 live: the old instances stop on the next tick...
    assert reconcile_app(app.pk, time.time())  # ...which this tick's True makes come in a second
    assert not app.instances.filter(release=v2, desired_state="running").exists()
    assert in_flight()  # until their agent reports them stopped
    app.instances.filter(release=v2).update(state=Instance.STOPPED)
    assert not in_flight()
    mark(app, Instance.CRASHED)
    assert not in_flight()  # the agent restarts it with its backoff and wakes the loop when it reports


def test_an_app_with_rollbacks_a_canary_and_instances_is_destroyed_whole(app):
    from paas.platform.actions.canary import start_canary
    from paas.platform.actions.releases import rollback
    from paas.platform.models import App, Canary, Config

    host("h1")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    deploy(app)  # v3
    reconcile_app(app.pk, time.time())
    place_pending()
    mark(app, Instance.UP, address="10.1.0.2", port=5000)
    reconcile_app(app.pk, time.time())  # v3 is live
    rollback(app.owner, app, 2)  # v4 points back at v2's build and config
    rollback(app.owner, app, 4)  # a rollback of a rollback
    start_canary(app.owner, app, 2, 10)
    Domain.objects.create(app=app, hostname=f"{app.name}.example.test")
    app_id = app.pk
    destroy_app(app.owner, app, app.name)
    assert not App.objects.filter(pk=app_id).exists()
    for model in (Release, Build, Config, Instance, Canary, Domain, Formation):
        assert not model.objects.filter(app_id=app_id).exists(), model.__name__
    assert Event.objects.filter(app_pk=app_id, action="app.destroy").exists()
