"""The autoscaler's view of traffic: every router node's snapshot added up."""

import json
import time
import uuid

from paas.platform.control.autoscale_policy import Metrics
from paas.platform.control.autoscaling import SNAPSHOT_MAX_AGE_S, combine_nodes, read_metrics
from paas.platform.redis_client import get_redis

NOW = 1_800_000_000.0


def node(rps, p95, requests, age=1.0):
    return {"rps": rps, "p95_ms": p95, "requests": requests, "ts": NOW - age}


def test_rates_and_requests_add_up_and_p95_is_weighted_by_requests():
    metrics, ts = combine_nodes([node(30, 100, 1800, age=2), node(10, 20, 600, age=1)], NOW)
    assert metrics == Metrics(rps=40, p95_ms=80, requests=2400)
    assert ts == NOW - 1


def test_a_silent_node_and_a_broken_entry_are_left_out():
    stale = node(500, 900, 30000, age=SNAPSHOT_MAX_AGE_S + 1)
    metrics, _ = combine_nodes([stale, {"rps": "x"}, node(5, 10, 300)], NOW)
    assert metrics == Metrics(rps=5, p95_ms=10, requests=300)
    assert combine_nodes([stale], NOW) == (None, None)
    assert combine_nodes([], NOW) == (None, None)


def test_no_requests_anywhere_is_zero_latency():
    assert combine_nodes([node(0, 0, 0), node(0, 0, 0)], NOW)[0] == Metrics(rps=0, p95_ms=0, requests=0)


def test_read_metrics_reads_every_node_of_the_app(settings):
    settings.PAAS_REDIS_PREFIX = f"t{uuid.uuid4().hex[:8]}:"
    key = f"{settings.PAAS_REDIS_PREFIX}router:metrics:shop"
    now = time.time()
    client = get_redis()
    client.hset(key, mapping={
        "router-a:8080": json.dumps({"rps": 12.5, "p95_ms": 40, "requests": 750, "ts": now - 3}),
        "router-b:8080": json.dumps({"rps": 7.5, "p95_ms": 20, "requests": 450, "ts": now - 1}),
        "garbage": "{not json",
    })
    try:
        metrics, ts = read_metrics("shop", now)
        assert metrics == Metrics(rps=20, p95_ms=32.5, requests=1200) and ts == now - 1
        assert read_metrics("nobody", now) == (None, None)
    finally:
        client.delete(key)
