"""Keeps the in-memory RouteTable equal to the route table in Redis.

Level-triggered: a full load at start, on every reconnect and every
``reload_interval`` seconds; pub/sub messages only make a change arrive sooner.
So a lost message, a Redis restart or a router restart costs a delay, never a
wrong table. ROUTES.md documents the keys.

A Redis that restarted empty (the private one keeps nothing on disk) holds no table
at all until Platform Control publishes again: without ``router:published`` the
router keeps the table it has, rather than replacing it with nothing.
"""

import asyncio
import logging
import time

import redis.asyncio as aioredis

from paas.contracts import redis_keys
from paas.router import errors
from paas.router.table.routes import BadEntry, parse_app_entry

log = logging.getLogger("paas.router.table.sync")


class TableSync:
    def __init__(self, settings, table):
        self.table = table
        self.url = settings.redis_url
        p = settings.key_prefix
        self.hosts_key = redis_keys.route_hosts(p)
        self.published_key = redis_keys.route_published(p)
        self.app_prefix = redis_keys.route_app(p, "")
        self.apps_pattern = redis_keys.route_apps_pattern(p)
        self.changes = redis_keys.route_changes(p)
        self.wake_channel = redis_keys.router_wake(p)
        self.interval = settings.reload_interval
        self.client: aioredis.Redis | None = None
        self.ready = asyncio.Event()
        self.loads = 0   # full loads done; tests wait on it

    async def run(self) -> None:
        """Follow Redis until cancelled, reconnecting with backoff."""
        backoff = 0.2
        while True:
            try:
                await self._follow()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("route table: redis unavailable (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:   # e.g. undecodable data: keep following, never stop
                log.exception("route table: reload failed; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.2

    async def _follow(self) -> None:
        client = aioredis.from_url(self.url)
        pubsub = client.pubsub()
        try:
            # Subscribe before loading, so no change between the two is missed.
            await pubsub.subscribe(self.changes)
            self.client = client
            await self.load_all()
            last_full = time.monotonic()
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    await self._on_message(msg["data"])
                if time.monotonic() - last_full >= self.interval:
                    await self.load_all()
                    last_full = time.monotonic()
        finally:
            self.client = None
            await pubsub.aclose()
            await client.aclose()

    async def _on_message(self, data: bytes) -> None:
        name = data.decode("utf-8", "replace").strip()
        if name == "*":
            await self.load_all()
        elif name:
            await self.load_app(name)

    async def load_all(self) -> None:
        """Replace the whole table from Redis."""
        client = self.client
        if not await client.exists(self.published_key):
            if self.table.apps:
                log.warning("route table: nothing published in Redis (did it restart empty?); "
                            "serving the table in force until Platform Control publishes")
            self.loads += 1
            self.ready.set()
            return
        hosts = await client.hgetall(self.hosts_key)
        keys = [k async for k in client.scan_iter(match=self.apps_pattern, count=500)]
        apps = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for key, raw in zip(chunk, await client.mget(chunk)):
                name = key.decode("utf-8", "replace")[len(self.app_prefix):]
                route = self._parse(name, raw)
                if route is None:
                    # A bad entry keeps the app's previous route in force.
                    route = self.table.apps.get(name)
                if route is not None:
                    apps[name] = route
        self.table.replace_all(_decode_hosts(hosts), apps)
        self.loads += 1
        self.ready.set()

    async def load_app(self, name: str) -> None:
        """Reload one app's entry and the hosts hash (domains may have changed)."""
        client = self.client
        if client is None:
            return
        async with client.pipeline(transaction=False) as pipe:
            hosts, raw = await pipe.hgetall(self.hosts_key).get(self.app_prefix + name).execute()
        self.table.set_hosts(_decode_hosts(hosts))
        route = self._parse(name, raw) if raw is not None else None
        if raw is None or route is not None:
            self.table.set_app(name, route)

    def _parse(self, name, raw):
        if raw is None:
            return None
        try:
            return parse_app_entry(raw)
        except BadEntry as exc:
            # Keep serving the previous entry: a bad publish must not take an
            # app offline.
            log.error("route table: ignoring entry for %s: %s", name, exc)
            return None

    async def publish_wake(self, app: str) -> None:
        if self.client is not None:
            await self.client.publish(self.wake_channel, app)


def _decode_hosts(raw: dict) -> dict[str, str]:
    """The hosts hash as text; a field that is not UTF-8 cannot be a hostname."""
    hosts = {}
    for host, app in raw.items():
        try:
            hosts[host.decode()] = app.decode()
        except UnicodeDecodeError:
            log.error("route table: ignoring undecodable host entry %r", host)
    return hosts


class Waker:
    """Holds requests for a scaled-to-zero app until instances appear."""

    def __init__(self, table, sync):
        self.table = table
        self.sync = sync
        self._events: dict[str, asyncio.Event] = {}
        self._published: dict[str, float] = {}

    def app_changed(self, app: str) -> None:
        # The spacing of wakes is for one state's repeats; a new state (asleep, then scaled to zero)
        # gets its own wake at once, or its first request waited out the nudge of the state before.
        self._published.pop(app, None)
        event = self._events.pop(app, None)
        if event is not None:
            event.set()

    async def wait(self, app: str, timeout: float):
        """The app's route once it has instances; WakeTimeout after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            route = self.table.apps.get(app)
            if route is None:
                raise errors.NoBackends(app)
            if route.maintenance:
                raise errors.Maintenance(app)
            if not route.scaled_to_zero and any(b.weight > 0 for b in route.backends):
                return route
            await self._publish(app, loop.time())
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise errors.WakeTimeout(app)
            event = self._events.setdefault(app, asyncio.Event())
            try:
                async with asyncio.timeout(min(1.0, remaining)):
                    await event.wait()
            except TimeoutError:
                # Level-triggered: look at Redis ourselves in case a change
                # message was lost.
                try:
                    await self.sync.load_app(app)
                except (aioredis.RedisError, OSError) as exc:
                    logging.getLogger("paas.router.wake").debug("reload %s: %s", app, exc)

    async def nudge(self, app: str) -> None:
        """Wake an app asleep (frozen) without waiting for anything."""
        await self._publish(app, asyncio.get_running_loop().time())

    async def _publish(self, app: str, now: float) -> None:
        # One wake message per app every 2 s is enough; the control plane's
        # handler is idempotent.
        if now - self._published.get(app, -10.0) < 2.0:
            return
        self._published[app] = now
        try:
            await self.sync.publish_wake(app)
        except (aioredis.RedisError, OSError) as exc:
            logging.getLogger("paas.router.wake").warning("wake %s: %s", app, exc)
