"""Route-table sync against a private redis-server that goes away and comes back."""

import json

import pytest
import redis

from router_backends import EchoBackend
from router_helpers import PrivateRedis, RunningRouter, backend, raw_exchange, router_settings, wait_until


@pytest.fixture
def private_redis(tmp_path):
    r = PrivateRedis(tmp_path)
    yield r
    r.stop()


def _publish(client, app, port):
    client.set(f"paas:router:app:{app}", json.dumps({"app": app, "backends": [backend(port)]}))
    client.hset("paas:router:hosts", f"{app}.localhost", app)
    client.set("paas:router:published", "1")
    client.publish("paas:router:changes", app)


def test_table_survives_redis_restart_and_reloads_on_reconnect(private_redis, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    client = private_redis.start()
    _publish(client, "one", echo.port)
    settings = router_settings("paas:")
    settings.redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    settings.reload_interval = 300.0   # rule out the periodic reload
    running = RunningRouter(settings)
    cleanup(running)
    table = running.router.table
    wait_until(lambda: table.app_for_host("one.localhost") == "one", what="initial load")
    loads = running.router.sync.loads

    # Changed without any message, then Redis goes away (saving its data): only
    # the full load on reconnect can tell the router about "two".
    client.delete("paas:router:app:one")
    client.hdel("paas:router:hosts", "one.localhost")
    client.set("paas:router:app:two", json.dumps({"app": "two", "backends": [backend(echo.port)]}))
    client.hset("paas:router:hosts", "two.localhost", "two")
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass
    private_redis.proc.wait(10)
    # Redis is gone: the router keeps serving from the table it has.
    out = raw_exchange(running.port, b"GET / HTTP/1.1\r\nHost: one.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")

    private_redis.start()
    wait_until(lambda: running.router.sync.loads > loads and table.app_for_host("two.localhost") == "two",
               timeout=15, what="reload after reconnect")
    assert table.app_for_host("one.localhost") is None
    out = raw_exchange(running.port, b"GET / HTTP/1.1\r\nHost: two.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")


def test_a_redis_that_restarts_empty_leaves_the_table_in_force_until_the_next_publish(private_redis, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    client = private_redis.start()
    _publish(client, "one", echo.port)
    settings = router_settings("paas:")
    settings.redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    settings.reload_interval = 0.2   # full loads all the time: each must keep the table
    running = RunningRouter(settings)
    cleanup(running)
    table = running.router.table
    wait_until(lambda: table.app_for_host("one.localhost") == "one", what="initial load")

    # Redis restarts without its data, as the private one does (it keeps nothing on disk).
    try:
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    private_redis.proc.wait(10)
    (private_redis.dir / "dump.rdb").unlink(missing_ok=True)
    client = private_redis.start()
    assert client.dbsize() == 0
    loads = running.router.sync.loads
    wait_until(lambda: running.router.sync.loads > loads + 2, timeout=15, what="full loads of the empty Redis")
    out = raw_exchange(running.port, b"GET / HTTP/1.1\r\nHost: one.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")

    # Platform Control publishes again (the marker last): that table is the one in force.
    client.set("paas:router:app:two", json.dumps({"app": "two", "backends": [backend(echo.port)]}))
    client.hset("paas:router:hosts", "two.localhost", "two")
    client.set("paas:router:published", "2")
    wait_until(lambda: table.app_for_host("two.localhost") == "two" and table.app_for_host("one.localhost") is None,
               timeout=15, what="the published table")


class WakeRecorder:
    """The one side of TableSync the Waker uses: the wake it publishes to Redis."""

    def __init__(self):
        self.woken = []

    async def publish_wake(self, app):
        self.woken.append(app)


def test_a_new_state_of_an_app_gets_its_own_wake_at_once():
    """A nudge of an app asleep, then the app scaled to zero: its next request's wake is not held
    back by the spacing of the nudge's repeats (it waited 2 s for it)."""
    import asyncio

    from paas.router.table.sync import Waker

    async def scenario():
        recorder = WakeRecorder()
        waker = Waker(table=None, sync=recorder)
        await waker.nudge("blog")
        await waker.nudge("blog")  # the same state, within 2 s: one wake is enough
        waker.app_changed("blog")  # the table changed: now scaled to zero
        await waker.nudge("blog")
        return recorder.woken

    assert asyncio.run(scenario()) == ["blog", "blog"]
