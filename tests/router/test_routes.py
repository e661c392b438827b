"""Pure tests: route table, backend selection, header rewriting, metrics."""

import random

import pytest

from paas.router.protocol import forwarding
from paas.router.telemetry import metrics
from paas.router.config import Limits
from paas.router.protocol.http1 import ClientConnection
from paas.router.table.routes import (AppRoute, Backend, BadEntry, RouteTable, choose_backend,
                                parse_app_entry)


def _route(*backends):
    return AppRoute(app="demo", backends=list(backends))


def test_host_lookup_hosts_hash_then_base_domain():
    t = RouteTable("localhost")
    t.set_hosts({"WWW.Example.com": "shop"})
    t.set_app("demo", _route(Backend("a", "127.0.0.1", 1, 1)))
    assert t.app_for_host(b"www.example.com:8080") == "shop"
    assert t.app_for_host("demo.localhost.") == "demo"
    assert t.app_for_host("other.localhost") is None
    assert t.app_for_host("[::1]:80") is None


def test_reload_keeps_backend_identity_and_drains_removed():
    t = RouteTable()
    removed = []
    t.on_removed = removed.append
    a, b = Backend("a", "10.0.0.1", 1, 1), Backend("b", "10.0.0.2", 1, 1)
    t.set_app("demo", _route(a, b))
    a.outstanding = 3
    t.set_app("demo", _route(Backend("a", "10.0.0.1", 1, 2, weight=50)))
    kept = t.apps["demo"].backends[0]
    assert kept is a and kept.outstanding == 3 and kept.release == 2
    assert removed == [b] and b.removed


def test_least_outstanding_then_round_robin_ties():
    a, b, c = (Backend(x, "h", i, 1) for i, x in enumerate("abc"))
    route = _route(a, b, c)
    a.outstanding, b.outstanding, c.outstanding = 2, 0, 1
    assert choose_backend(route) is b
    b.outstanding = 2
    assert choose_backend(route) is c
    c.outstanding = 2
    picks = {choose_backend(route).id for _ in range(3)}
    assert picks == {"a", "b", "c"}
    assert {choose_backend(route, mode="roundrobin").id for _ in range(3)} == {"a", "b", "c"}


def test_exclude_and_zero_weight():
    a, b = Backend("a", "h", 1, 1), Backend("b", "h", 2, 2, weight=0)
    route = _route(a, b)
    assert choose_backend(route) is a
    assert choose_backend(route, exclude=[a]) is None


def test_release_weights_split_traffic():
    route = _route(Backend("old", "h", 1, 3, weight=90), Backend("new", "h", 2, 4, weight=10))
    rng = random.Random(7)
    counts = {"old": 0, "new": 0}
    for _ in range(2000):
        counts[choose_backend(route, rng=rng).id] += 1
    assert 100 < counts["new"] < 300


def test_parse_app_entry():
    r = parse_app_entry(b'{"app": "demo", "maintenance": true, "backends": '
                        b'[{"id": "x", "address": "10.0.0.1", "port": 5000, "release": 3}]}')
    assert r.maintenance and r.backends[0].weight == 100 and r.backends[0].port == 5000
    for bad in (b"not json", b'{"backends": []}', b'{"app": "d", "backends": [{"id": "x"}]}'):
        with pytest.raises(BadEntry):
            parse_app_entry(bad)


def _request(headers, *, chunked=False, length=None):
    """A request as the router's HTTP/1.1 makes it from exact head bytes."""
    fields = [("Host", "demo.localhost"), *headers]
    if chunked:
        fields.append(("Transfer-Encoding", "chunked"))
    if length is not None:
        fields.append(("Content-Length", str(length)))
    head = b"\r\n".join([b"GET / HTTP/1.1", *(f"{n}: {v}".encode() for n, v in fields)])
    conn = ClientConnection(Limits())
    conn.receive_data(head + b"\r\n\r\n")
    return conn.next_request()


def test_request_headers_drop_hop_by_hop_and_set_forwarded():
    req = _request([("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"),
                    ("TE", "trailers"), ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"),
                    ("Expect", "100-continue"), ("Accept", "*/*"), ("Upgrade", "websocket")],
                   length=3)
    out = forwarding.request_headers(req, client_ip="127.0.0.1", port=8080, rid="r" * 20, upgrade=False)
    assert out == [(b"Host", b"demo.localhost"), (b"Accept", b"*/*"),
                   (b"X-Forwarded-For", b"1.2.3.4, 127.0.0.1"), (b"X-Forwarded-Proto", b"http"),
                   (b"X-Forwarded-Port", b"8080"), (b"X-Forwarded-Host", b"demo.localhost"),
                   (b"X-Request-Id", b"r" * 20), (b"Via", b"1.1 paas-router"),
                   (b"Content-Length", b"3")]


def test_upgrade_request_keeps_upgrade_headers():
    req = _request([("Connection", "Upgrade"), ("Upgrade", "websocket")])
    out = forwarding.request_headers(req, client_ip="::1", port=80, rid="x" * 20, upgrade=True)
    assert out[-2:] == [(b"Connection", b"upgrade"), (b"Upgrade", b"websocket")]


def test_request_id_kept_only_when_sane():
    good = "abcdefghij0123456789-_."
    assert forwarding.request_id([(b"X-Request-Id", good.encode())]) == good
    assert forwarding.request_id([(b"X-Request-Id", b"short")]) != "short"
    assert len(forwarding.request_id([(b"X-Request-Id", b"bad id with spaces and more")])) == 36


def test_metrics_percentiles_and_prometheus():
    m = metrics.Metrics()
    for i in range(100):
        m.record("demo", 3, 200 if i < 99 else 502, 1.0 if i < 90 else 100.0, now=1000.0)
    merged = metrics.merge([m.state(), m.state()])
    fig = metrics.summarize(merged, now=1001.0)["demo"]
    assert fig["requests"] == 200 and fig["errors"] == 2
    assert 0.7 <= fig["p50_ms"] <= 1.2 and 60 <= fig["p95_ms"] <= 130
    assert fig["releases"][3]["requests"] == 200
    assert metrics.summarize(merged, now=1000.0 + 120)["demo"]["requests"] == 0
    text = metrics.render_prometheus(merged, now=1001.0)
    assert 'paas_router_requests_total{app="demo",release="3",code="2xx"} 198' in text
    assert 'paas_router_request_duration_seconds_count{app="demo",release="3"} 200' in text
    assert 'paas_router_request_duration_seconds_bucket{app="demo",release="3",le="+Inf"} 200' in text


def test_metrics_slots_are_whole_5_second_spans_even_when_the_clock_steps_back():
    m = metrics.Metrics()
    for now in (1000.0, 1004.999, 1005.0, 1009.5, 1001.0, 1010.0):   # 1001.0: the wall clock stepped back
        m.record("demo", 3, 200, 1.0, now)
    assert {slot: w[0] for slot, w in m.window[("demo", 3)].items()} == {200: 3, 201: 2, 202: 1}
    assert m.series[("demo", 3)]["count"] == 6 and m.series[("demo", 3)]["codes"] == {"2xx": 6}


def test_log_timestamps_are_rfc3339_utc_microseconds():
    import re
    from datetime import datetime
    from paas.router.telemetry.accesslog import Clock
    ts = Clock().now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ts)
    assert datetime.fromisoformat(ts.replace("Z", "+00:00")).tzinfo is not None


@pytest.mark.parametrize("fields", [
    dict(method=b"GET", path=b'/a?b="c"', host=b"demo.localhost"),
    dict(method=b"POST", path=b"/caf\xc3\xa9", host=b"demo.localhost"),
    dict(method=b"GET", path=b"/x", host=b"demo.localhost", code="H12", detail="slow"),
    dict(method=b"GET", path=b"/x", host=b"d\xe9mo.localhost"),
])
def test_access_log_line_bytes_are_the_encoded_line(fields):
    from paas.router.telemetry.observe import Record
    rec = Record(rid="r" * 20, client_ip="10.0.0.1", app="demo", release=3, instance="demo-web-1",
                 status=200, bytes_out=12, **fields)
    for duration in (0.0, 1.25, 3.14159, 12345.678):
        assert rec.line_bytes(duration) == rec.line(duration).encode()


def test_request_ids_are_version_4_uuids_and_a_forked_worker_makes_its_own():
    import subprocess
    import sys
    import uuid
    ids = [forwarding.new_request_id() for _ in range(600)]   # past one batch
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(rid).version == 4 and uuid.UUID(rid).variant == uuid.RFC_4122 and str(uuid.UUID(rid)) == rid
               for rid in ids)
    # Fork in a fresh single-threaded interpreter (this one runs router threads).
    script = ("import os\n"
              "from paas.router.protocol.forwarding import new_request_id\n"
              "new_request_id()\n"
              "read, write = os.pipe()\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    os.write(write, new_request_id().encode())\n"
              "    os._exit(0)\n"
              "os.waitpid(pid, 0)\n"
              "print(os.read(read, 100).decode() != new_request_id())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_failures_are_classified_once(caplog):
    from paas.router import errors
    timeout = errors.BackendTimeout("slow")
    assert errors.classify(timeout, "rid") is timeout
    gone = errors.classify(ConnectionResetError("reset by peer"), "rid")
    assert type(gone) is errors.ClientGone and (gone.status, gone.code) == (499, "H27")
    with caplog.at_level("ERROR", logger="paas.router"):
        bug = errors.classify(KeyError("oops"), "the-rid")
    assert type(bug) is errors.RouterBug and (bug.status, bug.code, bug.close) == (500, "H99", True)
    [logged] = caplog.records
    assert "the-rid" in logged.getMessage() and logged.exc_info[0] is KeyError


def test_parsed_routes_choose_least_outstanding_from_the_cursor_and_skip_weight_zero():
    import json
    entry = {"app": "demo", "backends": [{"id": i, "address": "10.0.0.1", "port": 5000 + n, "release": 3}
                                         for n, i in enumerate("abc")]}
    route = parse_app_entry(json.dumps(entry))
    assert route.uniform
    a, b, c = route.backends
    assert {choose_backend(route).id for _ in range(3)} == {"a", "b", "c"}   # ties rotate
    a.outstanding, b.outstanding, c.outstanding = 2, 0, 1
    assert [choose_backend(route).id for _ in range(3)] == ["b", "b", "b"]
    assert {choose_backend(route, mode="roundrobin").id for _ in range(3)} == {"a", "b", "c"}
    entry["backends"][1]["weight"] = 0
    route = parse_app_entry(json.dumps(entry))
    assert not route.uniform
    assert "b" not in {choose_backend(route).id for _ in range(6)}
