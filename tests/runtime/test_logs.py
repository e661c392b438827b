"""Log capture: stdout/stderr lines into the app's Redis stream, exactly once."""

import re
import uuid

import pytest
import redis as redis_lib

from paas.runtime import config, logs

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def redis():
    client = redis_lib.Redis.from_url(config.redis_url())
    keys = []
    yield client, keys
    for key in keys:
        client.delete(key)


def test_lines_are_shipped_with_their_labels(detached, redis):
    client, keys = redis
    app = f"logapp-{uuid.uuid4().hex[:8]}"
    keys.append(logs.stream_key(app))
    c = detached(["sh", "-c", "echo first; echo oops >&2; printf 'no newline'"], app=app, release="v3", process="web.1")
    assert c.wait(10)
    logs.ship(client, c.id, c.dir, c.record.labels, final=True)
    entries = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in client.xrange(logs.stream_key(app))]
    by_line = {e["line"]: e for e in entries}
    assert set(by_line) == {"first", "oops", "no newline"}
    assert by_line["first"]["stream"] == "stdout"
    assert by_line["oops"]["stream"] == "stderr"
    for e in entries:
        assert e["app"] == app and e["release"] == "v3" and e["process"] == "web.1" and e["source"] == "app"
        assert RFC3339.match(e["ts"]), e["ts"]
    logs.forget(client, c.id)


def test_a_restarted_shipper_neither_loses_nor_repeats(detached, redis):
    client, keys = redis
    app = f"logapp-{uuid.uuid4().hex[:8]}"
    keys.append(logs.stream_key(app))
    c = detached(["sh", "-c", "echo one; echo two"], app=app)
    assert c.wait(10)
    logs.ship(client, c.id, c.dir, c.record.labels)
    # More output arrives after a first pass; a new shipper (a restarted agent) continues.
    with open(c.dir / "stdout.log", "a") as f:
        f.write("three\npartial")
    logs.ship(client, c.id, c.dir, c.record.labels)
    logs.ship(client, c.id, c.dir, c.record.labels, final=True)
    logs.ship(client, c.id, c.dir, c.record.labels, final=True)
    lines = [fields[b"line"].decode() for _, fields in client.xrange(logs.stream_key(app))]
    assert lines == ["one", "two", "three", "partial"]
    logs.forget(client, c.id)


def test_shipped_log_space_is_given_back(detached, redis):
    client, keys = redis
    app = f"logapp-{uuid.uuid4().hex[:8]}"
    keys.append(logs.stream_key(app))
    c = detached(["true"], app=app)
    assert c.wait(10)
    path = c.dir / "stdout.log"
    line = "x" * 99 + "\n"
    with open(path, "a") as f:
        f.write(line * 30_000)  # 3 MB
    before = path.stat()
    assert logs.ship(client, c.id, c.dir, c.record.labels) == 30_000
    after = path.stat()
    assert after.st_size == before.st_size
    assert after.st_blocks * 512 < before.st_blocks * 512 // 2
    with open(path, "a") as f:
        f.write("after the hole\n")
    logs.ship(client, c.id, c.dir, c.record.labels)
    last = client.xrevrange(logs.stream_key(app), count=1)[0][1]
    assert last[b"line"] == b"after the hole"
    logs.forget(client, c.id)
