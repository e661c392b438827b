"""Router lines in an app's stream (logcenter/schema.py ROUTER_FIELDS): the API shows them whole, old ones too."""

import pytest

from paas.platform.logs import stream_key
from paas.platform.redis_client import get_redis

LINE = 'at=info method=GET path="/" host=demo.localhost request_id=r fwd="1.2.3.4" instance=demo-web-1'


@pytest.fixture
def stream(as_alice):
    assert as_alice.post("/api/apps", {"name": "demo"}).status_code == 201
    key = stream_key("demo")
    r = get_redis()
    # As the router writes them now, as it wrote them before, and an app line claiming another app.
    r.xadd(key, {"ts": "2026-12-07T10:00:00.000001Z", "release": "v2", "source": "router", "line": LINE})
    r.xadd(key, {"ts": "2026-12-07T10:00:00.000002Z", "app": "demo", "release": "v1", "process": "router",
                 "source": "router", "stream": "stdout", "line": LINE})
    r.xadd(key, {"ts": "2026-12-07T10:00:00.000003Z", "app": "other", "process": "web.1", "source": "app",
                 "line": "hello"})
    yield key
    r.delete(key)


def test_router_lines_read_with_their_implied_fields_old_and_new(as_alice, stream):
    rows = as_alice.get("/api/apps/demo/logs").json_body["lines"]
    new, old, app_line = rows
    for row in (new, old):
        assert (row["app"], row["process"], row["source"], row["stream"], row["line"]) == (
            "demo", "router", "router", "stdout", LINE)
    assert new["release"] == "v2" and old["release"] == "v1"
    # What an entry carries is kept: an app line gets no router fields.
    assert app_line["app"] == "other" and app_line["process"] == "web.1" and "stream" not in app_line


def test_the_process_and_source_filters_find_both_router_lines(as_alice, stream):
    for query in ("process=router", "source=router"):
        rows = as_alice.get(f"/api/apps/demo/logs?{query}").json_body["lines"]
        assert [row["release"] for row in rows] == ["v2", "v1"]
    cursor = as_alice.get("/api/apps/demo/logs?lines=1").json_body["cursor"]
    first = get_redis().xrange(stream, count=1)[0][0].decode()
    follow = as_alice.get(f"/api/apps/demo/logs?after={first}&wait=0&process=router").json_body
    assert [row["release"] for row in follow["lines"]] == ["v1"] and follow["cursor"] == cursor
