"""A real store (chdb in a temporary directory) and real Redis streams under a prefix of each test's own."""

import uuid

import pytest
import redis as redis_lib

from paas.logcenter.store import Store
from paas.runtime import config


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "store")
    yield opened
    opened.close()


@pytest.fixture
def streams():
    """(client, prefix): every key under the prefix is deleted afterwards."""
    client = redis_lib.Redis.from_url(config.redis_url())
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def service(tmp_path):
    """paas-logs' Service (store, drains, alerts) in this process, on a store of its own; no ingest runs."""
    from paas.logcenter.service import Service
    from paas.logcenter.settings import Settings

    settings = Settings(data_dir=tmp_path, store_dir=tmp_path / "svc-store", socket_path=tmp_path / "s.sock",
                        redis_url="redis://unused", redis_prefix="x:", rate_limit=100, retention_days=30, consumer="t",
                        drain_allow="127.0.0.0/8")
    opened = Service(settings)
    yield opened
    opened.drains.stop()
    opened.store.close()
