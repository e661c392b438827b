"""Fixtures for router tests: a router in a thread, real Redis with a unique key
prefix per test, backends and clients (router_helpers, router_backends)."""

import os
import sys
import uuid

import pytest
import redis

# The helper modules sit beside this file; pytest's importlib mode does not put
# test directories on sys.path.
sys.path.insert(0, os.path.dirname(__file__))

from router_helpers import REDIS_URL, Routes, RunningRouter, router_settings  # noqa: E402


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client):
    p = f"test-router-{uuid.uuid4().hex[:12]}:"
    yield p
    keys = list(redis_client.scan_iter(match=p + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def routes(redis_client, prefix):
    return Routes(redis_client, prefix)


@pytest.fixture
def make_router(prefix, routes):
    """Start a router with short timeouts (overridable); stopped after the test."""
    started = []

    def start(**timeouts) -> RunningRouter:
        running = RunningRouter(router_settings(prefix, **timeouts))
        started.append(running)
        routes.router = running
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def make_tls_router(prefix, routes, tmp_path, monkeypatch):
    """A router that also terminates TLS (on a free port), its platform CA in a data dir of
    the test's own; ``tls_cert``/``tls_key`` give an operator's certificate instead."""
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path / "data"))
    started = []

    def start(tls_cert: str = "", tls_key: str = "", **timeouts) -> RunningRouter:
        settings = router_settings(prefix, **timeouts)
        settings.tls_port, settings.tls_cert, settings.tls_key = 0, tls_cert, tls_key
        running = RunningRouter(settings)
        started.append(running)
        routes.router = running
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def cleanup():
    """Things with a close() method to close after the test."""
    items = []
    yield items.append
    for item in reversed(items):
        item.close()
