"""The fast pass: a wake naming an app places that app's instances before the full tick."""

import json
import time

import pytest
from django.utils import timezone

from paas.platform.actions.apps import create_app
from paas.platform.actions.formation import scale
from paas.platform.actions.releases import create_release
from paas.platform.actions.runs import start_run
from paas.platform.control.autoscaling import wake_app
from paas.platform.control.loop import FullTickTimer, Loop, fast_pass
from paas.platform.control.wake import names_a_state_change, wake_channel, wake_message, woken_app
from paas.platform.models import Build, Formation, Host, Instance
from paas.platform.redis_client import get_redis
from tests.platform.accounts import make_user


def make_app(prefix="fast"):
    owner = make_user(f"owner{time.monotonic_ns() % 10**8}")
    app = create_app(owner, f"{prefix}-{time.monotonic_ns() % 10**8}")
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, slug_digest="sha256:" + "a" * 64,
                                 process_types={"web": "run-web"})
    create_release(app, user=app.owner, build=build, config=app.latest_release().config, summary="Deploy")
    return app


@pytest.fixture
def host(db):
    return Host.objects.create(name=f"h{time.monotonic_ns() % 10**8}", address="10.0.0.1", memory_mb=4096, cpus=4,
                               last_heartbeat=timezone.now(), stacks=["host"])


def test_the_fast_pass_places_the_woken_app_alone(host):
    woken, other = make_app(), make_app("other")
    Formation.objects.create(app=woken, process_type="web", quantity=2)
    Formation.objects.create(app=other, process_type="web", quantity=1)
    assert fast_pass({woken.pk}) == 2
    assert set(woken.instances.values_list("host__name", flat=True)) == {host.name}
    assert not other.instances.exists()  # the full tick reconciles the rest


def test_a_scale_and_a_run_name_their_app_on_the_wake_channel(host, django_capture_on_commit_callbacks):
    app = make_app()
    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(wake_channel())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            scale(app.owner, app, {"web": {"quantity": 1}})
        with django_capture_on_commit_callbacks(execute=True):
            start_run(app.owner, app, "echo hi")
        got = [next_message(pubsub) for _ in range(2)]
    finally:
        pubsub.close()
    assert [woken_app(data) for data in got] == [app.pk, app.pk]


def test_a_release_names_its_app_and_its_fast_pass_starts_the_rollout(host, django_capture_on_commit_callbacks):
    app = make_app()
    Formation.objects.create(app=app, process_type="web", quantity=1)
    fast_pass({app.pk})
    first = app.latest_release()
    pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(wake_channel())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            release = create_release(app, user=app.owner, build=first.build, config=first.config, summary="Deploy")
        got = next_message(pubsub)
    finally:
        pubsub.close()
    assert woken_app(got) == app.pk and not names_a_state_change(got)
    loop = Loop(interval=1.0)
    loop.hurry({"channel": wake_channel().encode(), "data": got}, "router:wake", wake_app)
    new = app.instances.filter(release=release).get()
    assert new.host_id == host.pk and new.process_type == "web"


def next_message(pubsub) -> bytes:
    for _ in range(50):
        message = pubsub.get_message(timeout=0.1)
        if message:
            return message["data"]
    raise AssertionError("no wake message")


def test_the_listener_places_a_scaled_app_at_once(host):
    app = make_app()
    Formation.objects.create(app=app, process_type="web", quantity=1)
    loop = Loop(interval=1.0)
    loop.hurry({"channel": wake_channel().encode(), "data": f"app:{app.pk}".encode()}, "router:wake", wake_app)
    assert app.instances.get().host_id == host.pk


@pytest.mark.parametrize("data", [b"1", b"app:", b"app:-1", b"app:1e3", b"app:\xff", b"app:" + b"9" * 40, b"x" * 4096])
def test_hostile_or_plain_wake_messages_name_no_app(data):
    assert woken_app(data) is None


def test_a_hostile_wake_message_costs_no_pass(host):
    app = make_app()
    Formation.objects.create(app=app, process_type="web", quantity=1)
    loop = Loop(interval=1.0)
    for data in (b"app:\xff", b"app:" + b"9" * 40, b"app:999999999"):
        loop.hurry({"channel": wake_channel().encode(), "data": data}, "router:wake", wake_app)
    assert not Instance.objects.filter(app=app).exists()


def test_an_instance_up_is_routed_by_the_fast_pass(host):
    from paas.platform.control.routes import RoutePublisher

    app = make_app()
    Formation.objects.create(app=app, process_type="web", quantity=1)
    fast_pass({app.pk})
    app.instances.update(state=Instance.UP, address="10.1.0.2", port=5000)
    redis = get_redis()
    prefix = f"test{time.monotonic_ns()}:"
    try:
        fast_pass({app.pk}, RoutePublisher(prefix))
        entry = json.loads(redis.get(f"{prefix}router:app:{app.name}"))
        assert [(b["address"], b["port"]) for b in entry["backends"]] == [("10.1.0.2", 5000)]
    finally:
        for key in redis.scan_iter(f"{prefix}*"):
            redis.delete(key)


def test_a_plain_wake_asks_for_the_full_tick_now():
    timer = FullTickTimer(1.0)
    assert not timer.due(100.0) and timer.wait_s(100.0, 1.0) == 1.0
    timer.woken(False, 100.0)
    assert timer.wait_s(100.0, 1.0) == 0.0 and timer.due(100.0)
    assert not timer.due(100.1)  # once


def test_a_fast_pass_puts_the_full_tick_off_by_the_interval_and_a_plain_wake_brings_it_back():
    timer = FullTickTimer(1.0)
    timer.woken(True, 100.0)
    assert not timer.due(100.5) and timer.wait_s(100.5, 1.0) == 0.5
    timer.woken(True, 100.6)  # a second fast pass does not put it off further
    assert timer.due(101.0)
    timer.woken(True, 200.0)
    timer.woken(False, 200.2)
    assert timer.due(200.2)


def test_an_agents_state_change_names_its_app_as_such():
    assert wake_message(7, state_change=True) == "state:7" and wake_message(7) == "app:7"
    assert woken_app(b"state:7") == 7 and names_a_state_change(b"state:7")
    assert woken_app(b"app:7") == 7 and not names_a_state_change(b"app:7")
    assert woken_app(b"state:x") is None and woken_app(b"state:") is None


def test_a_state_change_publishes_the_routes_before_the_reconcile(host, monkeypatch):
    """An instance up is routed first; the reconcile (a rollout's next step) after it."""
    from paas.platform.control import deploys
    from paas.platform.control.routes import RoutePublisher

    app = make_app()
    Formation.objects.create(app=app, process_type="web", quantity=1)
    fast_pass({app.pk})
    app.instances.update(state=Instance.UP, address="10.1.0.3", port=5000)
    redis = get_redis()
    prefix = f"test{time.monotonic_ns()}:"
    routed_at_reconcile = []
    reconcile = deploys.reconcile_app

    def watching(app_id, now):
        routed_at_reconcile.append(redis.get(f"{prefix}router:app:{app.name}") is not None)
        return reconcile(app_id, now)

    monkeypatch.setattr(deploys, "reconcile_app", watching)
    try:
        fast_pass({app.pk}, RoutePublisher(prefix), routes_first=True)
        assert routed_at_reconcile == [True]
    finally:
        for key in redis.scan_iter(f"{prefix}*"):
            redis.delete(key)


def test_publishing_one_app_writes_its_entry_and_name_and_leaves_the_rest(host, settings):
    from paas.contracts import redis_keys
    from paas.platform.control.routes import RoutePublisher

    settings.PAAS_BASE_DOMAIN = "example.test"
    app, other = make_app(), make_app("other")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    fast_pass({app.pk})
    app.instances.update(state=Instance.UP, address="10.1.0.4", port=5000)
    fast_pass({app.pk})  # its rollout completes: the release serves
    redis = get_redis()
    prefix = f"test{time.monotonic_ns()}:"
    publisher = RoutePublisher(prefix)
    changes = redis.pubsub(ignore_subscribe_messages=True)
    changes.subscribe(redis_keys.route_changes(prefix))
    try:
        redis.set(redis_keys.route_app(prefix, "gone"), "{}")  # only a whole publish removes what is gone
        assert publisher.publish_apps({app.pk}) == [app.name]
        entry = json.loads(redis.get(redis_keys.route_app(prefix, app.name)))
        assert [(b["address"], b["port"]) for b in entry["backends"]] == [("10.1.0.4", 5000)]
        assert redis.hgetall(redis_keys.route_hosts(prefix)) == {f"{app.name}.example.test".encode(): app.name.encode()}
        assert redis.get(redis_keys.route_app(prefix, other.name)) is None and redis.get(redis_keys.route_app(prefix, "gone"))
        assert publisher.publish_apps({app.pk}) == []  # unchanged: nothing written, nothing announced
        announced = [m["data"] for m in (changes.get_message(timeout=0.2) for _ in range(4)) if m]
        assert announced == [app.name.encode()]
    finally:
        changes.close()
        for key in redis.scan_iter(f"{prefix}*"):
            redis.delete(key)
