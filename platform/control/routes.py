"""The router's table in Redis (contract: router/ROUTES.md), kept equal to the database.

Level-triggered: each tick computes every app's entry; only entries that changed
are written and announced on ``paas:router:changes``. Backends are the up web
instances of the release taking traffic.
"""

import json
import time

from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.control.autoscaling import scaled_to_zero
from paas.platform.control.certs import publish_certificates
from paas.platform.control.deploys import serving_release
from paas.platform.control.sleep import asleep
from paas.platform.models import App, Canary, Domain, Host, Instance
from paas.platform.redis_client import get_redis

# A cordoned (draining) host's instances serve until their replacements are up (actions/hosts.py).
SERVING_HOSTS = (Host.UP, Host.DRAINING)



def app_entry(app: App) -> dict:
    """Backends: up web instances of the serving release, and of the canary with its share."""
    serving = serving_release(app)
    canary = Canary.objects.filter(app=app).select_related("release").first()
    shares = []
    if serving is not None:
        shares.append((serving, 100 - canary.percent if canary else 100))
    if canary is not None and (serving is None or canary.release_id != serving.id):
        shares.append((canary.release, canary.percent))
    backends = []
    for release, weight in shares:
        backends += [{"id": i.name, "address": i.address, "port": i.port, "release": release.version,
                      "weight": weight} for i in healthy_web(app, release)]
    return {"app": app.name, "maintenance": app.maintenance, "scaled_to_zero": scaled_to_zero(app),
            "frozen": asleep(app), "https_redirect": app.https_redirect, "hsts_max_age": app.hsts_max_age,
            "backends": backends}


def healthy_web(app: App, release):
    return app.instances.filter(release=release, process_type="web", desired_state=Instance.RUNNING,
                                state=Instance.UP, host__state__in=SERVING_HOSTS, address__isnull=False,
                                port__isnull=False).order_by("number")


def desired_table(app_ids=None) -> tuple[dict[str, str], dict[str, dict]]:
    """Host names -> app, and each app's entry; of every app, or only of ``app_ids``."""
    base = settings.PAAS_BASE_DOMAIN
    apps_query, domains = App.objects.prefetch_related("autoscalers"), Domain.objects.filter(verified_at__isnull=False)
    if app_ids is not None:
        apps_query, domains = apps_query.filter(pk__in=app_ids), domains.filter(app_id__in=app_ids)
    apps = {app.name: app_entry(app) for app in apps_query}
    hosts = {f"{name}.{base}": name for name in apps}
    # Only verified custom domains: a pending claim proves nothing (actions/domains.py).
    hosts.update({d.hostname: d.app.name for d in domains.select_related("app")})
    return hosts, apps


class RoutePublisher:
    """Writes what differs from Redis's current table; remembers nothing that Redis does not hold."""

    def __init__(self, prefix: str | None = None):
        self.redis = get_redis()
        prefix = settings.PAAS_REDIS_PREFIX if prefix is None else prefix
        self.hosts_key = redis_keys.route_hosts(prefix)
        self.prefix = prefix
        self.changes = redis_keys.route_changes(prefix)
        self.published_key = redis_keys.route_published(prefix)
        #: The table in Redis may lag the database: nothing published yet by this loop, or the last
        #: publish failed (Redis away). See loop.tick.
        self.stale = True

    def publish(self) -> list[str]:
        self.stale = True
        hosts, apps = desired_table()
        changed = self.sync_apps(apps)
        changed += self.sync_hosts(hosts)
        publish_certificates(self.redis, self.prefix)
        for name in sorted(set(changed)):
            self.redis.publish(self.changes, name)
        # Last: the whole table is in Redis. A router finding no such key (a Redis that restarted
        # empty) keeps the table it has instead of loading nothing (router/sync.py).
        self.redis.set(self.published_key, f"{time.time():.3f}")
        self.stale = False
        return sorted(set(changed))

    def publish_apps(self, app_ids) -> list[str]:
        """Only these apps' entries and host names (a fast pass: an instance of the app came up,
        or it was scaled): what differs is written and announced, nothing else is read. What only
        the whole table tells (entries and names to remove, certificates) waits for ``publish``."""
        hosts, apps = desired_table(app_ids)
        changed = [name for name, entry in apps.items() if self.write_entry(name, entry)]
        current = self.redis.hmget(self.hosts_key, list(hosts)) if hosts else []
        fresh = {h: a for (h, a), now in zip(hosts.items(), current) if now != a.encode()}
        if fresh:
            self.redis.hset(self.hosts_key, mapping=fresh)
            changed += list(fresh.values())
        for name in sorted(set(changed)):
            self.redis.publish(self.changes, name)
        return sorted(set(changed))

    def write_entry(self, name: str, entry: dict) -> bool:
        """Write the app's entry if it differs from Redis's; True when it did."""
        text = json.dumps(entry, sort_keys=True)
        if self.redis.get(redis_keys.route_app(self.prefix, name)) == text.encode():
            return False
        self.redis.set(redis_keys.route_app(self.prefix, name), text)
        return True

    def sync_apps(self, apps: dict[str, dict]) -> list[str]:
        pattern = redis_keys.route_apps_pattern(self.prefix)
        current = {key.decode().rsplit(":", 1)[1] for key in self.redis.scan_iter(pattern, count=1000)}
        changed = [name for name, entry in apps.items() if self.write_entry(name, entry)]
        for name in current - apps.keys():
            self.redis.delete(redis_keys.route_app(self.prefix, name))
            changed.append(name)
        return changed

    def sync_hosts(self, hosts: dict[str, str]) -> list[str]:
        current = {k.decode(): v.decode() for k, v in self.redis.hgetall(self.hosts_key).items()}
        changed = []
        stale = [h for h in current if h not in hosts]
        if stale:
            self.redis.hdel(self.hosts_key, *stale)
            changed += [current[h] for h in stale]
        fresh = {h: a for h, a in hosts.items() if current.get(h) != a}
        if fresh:
            self.redis.hset(self.hosts_key, mapping=fresh)
            changed += list(fresh.values())
        return changed
