"""The access log against real redis-servers: TLS, an outage, a hostile stream key."""

import asyncio

import pytest
import redis

from paas.router.telemetry import accesslog
from paas.router.telemetry.accesslog import AccessLog
from router_helpers import PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    r = PrivateRedis(tmp_path)
    yield r
    r.stop()


@pytest.fixture
def tls_redis(tmp_path):
    r = PrivateRedis(tmp_path, tls=True)
    yield r
    r.stop()


def lines(client, key: str) -> list[bytes]:
    return [fields[b"line"] for _, fields in client.xrange(key)]


async def flush_and_close(log: AccessLog) -> bool:
    try:
        return await log.flush()
    finally:
        if log._client is not None:
            await log._client.aclose()


def test_entries_reach_the_app_stream_over_rediss(tls_redis):
    client = tls_redis.start()
    log = AccessLog(tls_redis.url, "t:")
    log.add("demo", 3, b"2026-12-06T10:00:00.000001Z", b"at=info method=GET")
    assert asyncio.run(flush_and_close(log))
    [(_, fields)] = client.xrange("t:logs:demo")
    # schema.ROUTER_FIELDS: the app, process and stream are implied (schema.implied)
    assert fields == {b"ts": b"2026-12-06T10:00:00.000001Z", b"release": b"v3", b"source": b"router",
                      b"line": b"at=info method=GET"}


def test_plain_redis_is_not_taken_for_rediss(tls_redis):
    tls_redis.start()
    log = AccessLog(f"redis://127.0.0.1:{tls_redis.port}/0", "t:", retry_s=0)
    log.add("demo", 1, b"ts", b"line")
    assert not asyncio.run(flush_and_close(log))
    assert len(log.pending) == 1   # kept for the next attempt


def test_while_redis_is_away_a_bounded_buffer_waits_and_a_marker_counts_the_rest(private_redis):
    log = AccessLog(private_redis.url, "t:", max_pending=5, retry_s=0)
    for i in range(8):
        log.add("demo", 2, b"ts", b"line %d" % i)
    log.add("other", 1, b"ts", b"other line")
    assert not asyncio.run(flush_and_close(log))   # nothing listens yet
    assert len(log.pending) == 5 and log.dropped == {"demo": (3, b"v2"), "other": (1, b"v1")}
    client = private_redis.start()
    assert asyncio.run(flush_and_close(log))
    assert lines(client, "t:logs:demo") == [b'at=error code=L10 desc="Log buffer overflow" dropped=3'] + [
        b"line %d" % i for i in range(5)]
    assert lines(client, "t:logs:other") == [b'at=error code=L10 desc="Log buffer overflow" dropped=1']
    assert log.pending == [] and log.dropped == {}


def test_a_failed_batch_goes_back_in_front_of_newer_lines_within_the_bound(private_redis):
    log = AccessLog(private_redis.url, "t:", max_pending=4, retry_s=0)

    async def outage():
        log.add("demo", 1, b"ts", b"old 0")
        log.add("demo", 1, b"ts", b"old 1")
        flushing = asyncio.ensure_future(log.flush())
        await asyncio.sleep(0)   # the batch is out of the buffer, its send under way
        for i in range(3):
            log.add("demo", 1, b"ts", b"new %d" % i)
        assert not await flushing
        await log._client.aclose()

    asyncio.run(outage())
    assert [entry[4] for entry in log.pending] == [b"old 0", b"old 1", b"new 0", b"new 1"]
    assert log.dropped == {"demo": (1, b"v1")}


def test_each_stream_is_trimmed_to_its_bound_once_a_batch_has_run(private_redis, monkeypatch):
    monkeypatch.setattr(accesslog, "STREAM_MAXLEN", 100)
    client = private_redis.start()
    client.config_set("stream-node-max-entries", 10)   # "~" trims whole nodes: small ones, a tight bound
    log = AccessLog(private_redis.url, "t:")
    for i in range(1000):
        log.add("demo", 1, b"ts", b"line %d" % i)
    log.add("other", 1, b"ts", b"alone")
    assert asyncio.run(flush_and_close(log))
    assert 100 <= client.xlen("t:logs:demo") <= 110
    assert lines(client, "t:logs:demo")[-1] == b"line 999" and lines(client, "t:logs:other") == [b"alone"]


def test_a_stream_key_of_the_wrong_type_costs_only_its_own_lines(private_redis):
    client = private_redis.start()
    client.set("t:logs:victim", "not a stream")
    log = AccessLog(private_redis.url, "t:")
    log.add("victim", 1, b"ts", b"lost")
    log.add("demo", 1, b"ts", b"kept")
    assert asyncio.run(flush_and_close(log))
    assert lines(client, "t:logs:demo") == [b"kept"]
    assert client.get("t:logs:victim") == b"not a stream"
    with pytest.raises(redis.ResponseError):
        client.xrange("t:logs:victim")


def test_a_batch_that_cannot_be_packed_is_counted_and_the_log_goes_on(private_redis):
    client = private_redis.start()
    log = AccessLog(private_redis.url, "t:")
    log.add("demo", 1, b"ts", b"fine")
    log.pending.append(log.pending[0][:4] + (None,))   # a bug's entry: no line
    assert not asyncio.run(flush_and_close(log))
    assert log.pending == [] and log.dropped == {"demo": (2, b"v1")}
    log.add("demo", 1, b"ts", b"after")
    assert asyncio.run(flush_and_close(log))
    assert lines(client, "t:logs:demo") == [b'at=error code=L10 desc="Log buffer overflow" dropped=2', b"after"]
