"""Apps asleep, Platform Control's side (control/sleep.py): an idle app that may scale to zero sleeps
frozen first (the route table says so before any instance is frozen), a wake clears both at once,
and the longer idle time or memory pressure on a host stops it."""

import json
import time

import pytest

from paas.platform.control.autoscaling import idle_key, run_autoscalers, wake_app
from paas.platform.control.routes import RoutePublisher
from paas.platform.control.sleep import freeze_published
from paas.platform.models import Autoscale, Event, Formation, Instance
from paas.platform.redis_client import get_redis
from paas.runtime.sleep import pressure_key

from paas.platform.actions.apps import create_app
from paas.platform.control.deploys import reconcile_app
from paas.platform.control.scheduling import place_pending
from tests.platform.accounts import make_user

from .test_control_db import deploy, host, mark


@pytest.fixture
def serving(db, settings):
    app = create_app(make_user(f"sleeper{time.monotonic_ns() % 10**8}"), f"zzz-{time.monotonic_ns() % 10**8}")
    settings.PAAS_REDIS_PREFIX = f"sleep{time.monotonic_ns()}:"
    settings.PAAS_FREEZE_IDLE_S, settings.PAAS_SCALE_TO_ZERO_IDLE_S = 10, 100
    host("sleep-host")
    Formation.objects.create(app=app, process_type="web", quantity=1)
    deploy(app)
    reconcile_app(app.pk, time.time())
    place_pending()
    mark(app, Instance.UP, address="10.1.0.9", port=5000)
    reconcile_app(app.pk, time.time())
    scaler = Autoscale.objects.create(app=app, process_type="web", min_quantity=0, max_quantity=2)
    yield app, scaler, settings.PAAS_REDIS_PREFIX
    redis = get_redis()
    for key in redis.scan_iter(f"{settings.PAAS_REDIS_PREFIX}*"):
        redis.delete(key)


def frozen(app):
    return list(app.instances.filter(desired_state=Instance.RUNNING).values_list("frozen", flat=True))


def entry(prefix, app):
    return json.loads(get_redis().get(f"{prefix}router:app:{app.name}"))


def test_an_idle_app_sleeps_frozen_the_route_first_and_a_wake_clears_both(serving):
    app, scaler, prefix = serving
    now = time.time()
    assert run_autoscalers(now) == []           # idleness starts counting
    assert run_autoscalers(now + 5) == []       # not idle long enough
    assert run_autoscalers(now + 11) == [f"{app.name} asleep"]
    scaler.refresh_from_db()
    assert scaler.asleep and frozen(app) == [False]  # the routers are told before any agent
    RoutePublisher(prefix).publish()             # what loop.tick does before freeze_published
    assert entry(prefix, app)["frozen"] is True and len(entry(prefix, app)["backends"]) == 1
    freeze_published()
    assert frozen(app) == [True]
    assert Event.objects.filter(app=app, action="sleep").exists()
    assert Formation.objects.get(app=app, process_type="web").quantity == 1

    assert wake_app(app.name)                   # the router's message on a request
    scaler.refresh_from_db()
    assert not scaler.asleep and frozen(app) == [False]
    assert get_redis().get(idle_key(app.name)) is None  # idleness counts from the wake
    RoutePublisher(prefix).publish()
    assert entry(prefix, app)["frozen"] is False
    assert run_autoscalers(now + 20) == [] and not Autoscale.objects.get(pk=scaler.pk).asleep
    assert not wake_app(app.name)               # awake already: nothing to do


def test_an_app_asleep_is_stopped_after_the_longer_idle_time(serving):
    app, scaler, prefix = serving
    now = time.time()
    run_autoscalers(now)
    run_autoscalers(now + 11)
    RoutePublisher(prefix).publish()
    freeze_published()
    assert run_autoscalers(now + 101) == [f"{app.name} awake", f"{app.name} web=0"]
    assert Formation.objects.get(app=app, process_type="web").quantity == 0
    assert not Autoscale.objects.get(pk=scaler.pk).asleep


def test_memory_pressure_on_its_host_stops_an_app_asleep(serving):
    app, scaler, prefix = serving
    now = time.time()
    run_autoscalers(now)
    run_autoscalers(now + 11)
    assert run_autoscalers(now + 12) == []      # asleep, no pressure: kept frozen
    RoutePublisher(prefix).publish()
    freeze_published()
    get_redis().set(pressure_key(prefix, "other-host"), "1", ex=15)
    assert run_autoscalers(now + 13) == []      # pressure elsewhere changes nothing here
    get_redis().set(pressure_key(prefix, "sleep-host"), "1", ex=15)
    assert run_autoscalers(now + 14) == [f"{app.name} awake", f"{app.name} web=0"]
    assert "short of memory" in Event.objects.filter(app=app, action="autoscale").latest("pk").message


def test_an_app_that_may_not_scale_to_zero_never_sleeps(serving):
    app, scaler, prefix = serving
    Autoscale.objects.filter(pk=scaler.pk).update(min_quantity=1)
    now = time.time()
    run_autoscalers(now)
    assert run_autoscalers(now + 50) == []
    assert not Autoscale.objects.get(pk=scaler.pk).asleep
