"""Platform health for the dashboard: each part the platform runs on, asked briefly and never waited on long.

Each check returns (name, ok, detail). A part that is down costs at most its short timeout:
the dashboard must load while something is broken; that is when it is needed.
"""

import functools
import http.client
import socket
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from paas.logcenter.settings import current as logcenter_settings
from paas.router.config import Settings as RouterSettings

TIMEOUT_S = 0.3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def postgres() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check("PostgreSQL", True, "reachable")
    except DatabaseError as error:
        return Check("PostgreSQL", False, type(error).__name__)


@functools.lru_cache(maxsize=4)
def short_client(url: str) -> redis.Redis:
    """A client that gives up after TIMEOUT_S, kept per process: its pool keeps the connection
    open between dashboard views (a new one per view was a connect and a handshake each time)."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def redis_and_build_queue() -> list[Check]:
    """Redis, and the Celery build queue's length (a list named for the queue in the broker)."""
    try:
        short_client(settings.REDIS_URL).ping()
        waiting = short_client(settings.CELERY_BROKER_URL).llen(settings.PAAS_BUILD_QUEUE)
    except redis.RedisError as error:
        return [Check("Redis", False, type(error).__name__), Check("build queue", False, "unknown: Redis is down")]
    return [Check("Redis", True, "reachable"), Check("build queue", True, f"{waiting} waiting")]


def log_center() -> Check:
    path = str(logcenter_settings().socket_path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
        return Check("Log Center (paas-logs)", True, "accepting")
    except OSError as error:
        return Check("Log Center (paas-logs)", False, f"not accepting ({type(error).__name__})")


def router() -> Check:
    """The router's admin port answers /healthz (router/admin.py)."""
    router_settings = RouterSettings.from_env()  # the router's own reading of where its admin port is
    host, port = router_settings.admin_host, router_settings.admin_port
    try:
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
        conn.close()
    except OSError as error:
        return Check("router", False, f"admin port {port}: {type(error).__name__}")
    return Check("router", status == 200, f"admin port {port}: HTTP {status}")


def agents(hosts) -> Check:
    """Host agents, judged by their heartbeats (hosts.host_rows)."""
    silent = [h["name"] for h in hosts if not h["heartbeat_ok"]]
    if not hosts:
        return Check("host agents", False, "no host has registered")
    if silent:
        return Check("host agents", False, f"{len(silent)} of {len(hosts)} silent: {', '.join(silent[:5])}")
    return Check("host agents", True, f"{len(hosts)} heartbeating")


def all_checks(hosts) -> list[Check]:
    return [postgres(), *redis_and_build_queue(), log_center(), router(), agents(hosts)]
