"""The route table and backend selection: pure data and decisions, no I/O.

Host -> app comes from the hosts hash (with ``<app>.<base-domain>`` as a fallback
for apps the control plane published without a host entry); app -> backends from
the app entries. ROUTES.md documents the Redis format this is loaded from.
"""

import json
import random
import re
from dataclasses import dataclass, field
from functools import cached_property


class BadEntry(ValueError):
    """A route-table entry in Redis that cannot be used (it is ignored)."""


@dataclass(eq=False)
class Backend:
    """One healthy instance. Identity persists across reloads (outstanding counts)."""

    id: str
    address: str
    port: int
    release: int
    weight: int = 100
    outstanding: int = 0
    removed: bool = False

    @cached_property
    def key(self) -> tuple:
        # Cached: read twice per proxied request (pool), and id, address and
        # port never change (a different one is a different Backend).
        return (self.id, self.address, self.port)


@dataclass
class AppRoute:
    app: str
    maintenance: bool = False
    scaled_to_zero: bool = False
    frozen: bool = False   # asleep: instances frozen until a wake (platform/control/sleep.py)
    https_redirect: bool = False   # plain-HTTP requests get a redirect to the TLS port (paas https:redirect)
    hsts: bytes | None = None      # the Strict-Transport-Security value sent over TLS (paas https:hsts)
    body_limit: int = 0   # the most a request body may carry; 0: the router's PAAS_ROUTER_MAX_BODY
    patience: float = 0.0   # seconds to wait for the backend's first byte and between its bytes; 0: the router's
    backends: list[Backend] = field(default_factory=list)
    rr: int = 0   # round-robin cursor, also breaks least-outstanding ties
    # Every backend of one release and with a weight: choose_backend needs no candidate list.
    uniform: bool = False


def parse_app_entry(raw: bytes | str) -> AppRoute:
    """Parse one ``paas:router:app:<app>`` JSON value, refusing malformed ones."""
    try:
        doc = json.loads(raw)
        backends = [
            Backend(id=str(b["id"]), address=str(b["address"]), port=int(b["port"]),
                    release=int(b.get("release", 0)), weight=int(b.get("weight", 100)))
            for b in doc.get("backends", [])
        ]
        return AppRoute(app=str(doc["app"]), maintenance=bool(doc.get("maintenance", False)),
                        scaled_to_zero=bool(doc.get("scaled_to_zero", False)),
                        frozen=bool(doc.get("frozen", False)), backends=backends,
                        https_redirect=bool(doc.get("https_redirect", False)),
                        hsts=_hsts(doc.get("hsts_max_age")),
                        uniform=len({b.release for b in backends}) == 1 and all(b.weight > 0 for b in backends))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadEntry(f"bad route entry: {exc}") from None


def _hsts(max_age) -> bytes | None:
    """The header value for ``hsts_max_age`` (missing or null: no HSTS). Its ceiling is the API's
    (platform/actions/https.py); here only what cannot be a header value is refused."""
    if max_age is None:
        return None
    if type(max_age) is not int or max_age < 0:
        raise ValueError(f"hsts_max_age {max_age!r} is not a number of seconds")
    return b"max-age=%d" % max_age


_GIT_PATH = re.compile(rb"/[^/?#]+\.git(?:[/?]|$)")


def is_git(target: bytes) -> bool:
    """Whether a request target is the git receiver's (``/<app>.git/info/refs``, ``.../git-receive-pack``)."""
    return _GIT_PATH.match(target) is not None


def normalise_host(host: bytes | str) -> str:
    """Lowercase host without port or trailing dot."""
    if isinstance(host, bytes):
        host = host.decode("latin-1")
    host = host.strip().lower()
    if host.startswith("["):
        host = host.split("]")[0] + "]"
    else:
        host = host.rsplit(":", 1)[0] if ":" in host else host
    return host.rstrip(".")


class RouteTable:
    """Hosts and apps; replaced piecewise by the Redis sync, read by the proxy."""

    def __init__(self, base_domain: str = "localhost"):
        self.base_domain = base_domain
        self.hosts: dict[str, str] = {}
        self.apps: dict[str, AppRoute] = {}
        self.on_removed = lambda backend: None   # the pool closes idle connections
        self.on_app_changed = lambda app: None   # scale-to-zero waiters
        self._names: dict = {}                    # Host value -> normalised name
        # The platform's own endpoints (table/platform.py): its host, the API's route, the git receiver's.
        self.fixed_host: str | None = None
        self.fixed_app: str | None = None
        self.fixed_git: AppRoute | None = None

    def app_for_host(self, host: bytes | str) -> str | None:
        # Normalising is a pure function of the Host value, and clients send
        # the same few values again and again.
        name = self._names.get(host)
        if name is None:
            if len(self._names) >= 4096:
                self._names.clear()
            name = self._names[host] = normalise_host(host)
        app = self.hosts.get(name)
        if app is not None:
            return app
        suffix = "." + self.base_domain
        if name.endswith(suffix):
            label = name[: -len(suffix)]
            if label in self.apps:
                return label
        return None

    def set_hosts(self, hosts: dict[str, str]) -> None:
        self.hosts = {normalise_host(h): a for h, a in hosts.items()}
        if self.fixed_host is not None:
            self.hosts[self.fixed_host] = self.fixed_app   # whatever Redis says about that name

    def set_fixed(self, host: str, app: str, route: AppRoute, git: AppRoute) -> None:
        """Serve ``host`` from the router's own settings (the platform's endpoints), never from Redis."""
        self.fixed_host, self.fixed_app, self.fixed_git = host, app, git
        self.apps[app] = route
        self.hosts[host] = app

    def route_for(self, app: str, target: bytes) -> AppRoute | None:
        """The route of ``app`` for a request to ``target``: the git receiver's for the platform's git paths."""
        if app == self.fixed_app and is_git(target):
            return self.fixed_git
        return self.apps.get(app)

    def set_app(self, name: str, route: AppRoute | None) -> None:
        """Install (or with None remove) one app, keeping surviving backends' state."""
        if name == self.fixed_app:
            return   # the platform's own route is not the Redis table's to change
        old = self.apps.get(name)
        old_backends = {b.key: b for b in old.backends} if old else {}
        if route is not None:
            kept = []
            for b in route.backends:
                prev = old_backends.pop(b.key, None)
                if prev is not None:
                    prev.release, prev.weight = b.release, b.weight
                    b = prev
                kept.append(b)
            route.backends = kept
            route.rr = old.rr if old else 0
            self.apps[name] = route
        else:
            self.apps.pop(name, None)
        # Whatever is left is gone from the table: drain it. In-flight requests
        # hold their Backend object and finish; nothing new is sent to it.
        for gone in old_backends.values():
            gone.removed = True
            self.on_removed(gone)
        self.on_app_changed(name)

    def replace_all(self, hosts: dict[str, str], apps: dict[str, AppRoute]) -> None:
        self.set_hosts(hosts)
        for name in list(self.apps):
            if name not in apps and name != self.fixed_app:
                self.set_app(name, None)
        for name, route in apps.items():
            self.set_app(name, route)


def choose_backend(route: AppRoute, *, exclude=(), mode: str = "least",
                   rng: random.Random | None = None) -> Backend | None:
    """Pick an instance: a release by its weight, then least outstanding (or RR).

    ``weight`` is a per-release traffic share: with release 3 at 90 and release 4
    at 10, one request in ten goes to release 4. Weight 0 gets no new requests.
    """
    backends = route.backends
    if len(backends) == 1 and not exclude:
        # One instance (the common case), without building a candidate list.
        b = backends[0]
        if b.weight <= 0:
            return None
        route.rr += 1
        return b
    if route.uniform and not exclude:
        # Filtering would keep them all: skip building the lists (once per request).
        return _least_from_cursor(backends, route, mode)
    candidates = [b for b in backends if b.weight > 0 and b not in exclude]
    if not candidates:
        return None
    return _least_from_cursor(_pick_release(candidates, rng or random), route, mode)


def _least_from_cursor(candidates: list[Backend], route: AppRoute, mode: str) -> Backend:
    """From the route's rotating cursor on: that one (round robin) or the first with the fewest in flight."""
    n = len(candidates)
    route.rr += 1
    start = route.rr % n
    best = candidates[start]
    if mode == "roundrobin":
        return best
    for i in range(start + 1, start + n):
        b = candidates[i % n]
        if b.outstanding < best.outstanding:
            best = b
    return best


def _pick_release(candidates: list[Backend], rng) -> list[Backend]:
    releases: dict[int, int] = {}
    for b in candidates:
        releases[b.release] = max(releases.get(b.release, 0), b.weight)
    if len(releases) == 1:
        return candidates
    total = sum(releases.values())
    point = rng.random() * total
    for release, weight in sorted(releases.items()):
        point -= weight
        if point < 0:
            break
    return [b for b in candidates if b.release == release]
