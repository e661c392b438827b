"""GET /api/apps/<app>/logs/search and /api/logs/search through a real paas-logs process and real Redis."""

import json

import pytest
from django.conf import settings as django_settings

from paas.logcenter import schema
from paas.logcenter import settings as logcenter_settings
from tests.waiting import wait_for


def write(client, app, line, **fields):
    client.xadd(schema.stream_key(django_settings.PAAS_REDIS_PREFIX, app),
                schema.entry(app=app, source=fields.pop("source", "app"), line=line, **fields))


def found(api, path):
    response = api.get(path)
    assert response.status_code == 200, response.json_body
    return response.json_body["lines"]


def test_search_finds_a_request_by_word_status_and_request_id(as_alice, as_bob, as_admin, paas_logs):
    _, client = paas_logs
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    write(client, "shop", 'at=info method=GET path="/basket/checkout" host=shop.localhost request_id=rq-77 '
                          'fwd="10.0.0.1" instance=shop-web-1 duration=12.0ms status=404 bytes=9',
          source="router", process="router", release="v1")
    write(client, "shop", "basket lookup failed for rq-77", request_id="rq-77", process="web.1", release="v1")
    base = "/api/apps/shop/logs/search?q="
    by_word = wait_for(lambda: found(as_alice, base + "checkout"), 20, "the router line searchable")
    assert by_word[0]["path"] == "/basket/checkout" and by_word[0]["status"] == 404
    assert [r["status"] for r in found(as_alice, base + "status%3A404")] == [404]
    lines = wait_for(lambda: len(rows := found(as_alice, base + "request_id%3Arq-77")) == 2 and rows, 20,
                     "both lines of the request")
    assert {r["source"] for r in lines} == {"router", "app"} and all(r["request_id"] == "rq-77" for r in lines)
    assert as_bob.get(base + "checkout").status_code == 403   # as every app endpoint answers a non-member
    assert as_alice.get("/api/logs/search?q=checkout").status_code == 403
    assert found(as_admin, "/api/logs/search?q=checkout")[0]["app"] == "shop"


@pytest.mark.parametrize("params, problem", [
    ("q=%22open", "unbalanced quote"),
    ("q=colour%3Ared", "unknown field 'colour'"),
    ("q=x&since=10m&until=1h", "since is after until"),
    ("q=x&since=yesterday", "since: wants"),
    ("q=x&cursor=nope", "cursor"),
    ("q=x&limit=0", "limit"),
])
def test_bad_searches_are_400_naming_the_problem(as_alice, paas_logs, params, problem):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    response = as_alice.get(f"/api/apps/shop/logs/search?{params}")
    assert response.status_code == 400, response.json_body
    assert problem in response.json_body["message"]


def test_lines_of_an_earlier_app_with_the_name_are_not_shown(as_alice, paas_logs):
    _, client = paas_logs
    assert as_alice.post("/api/apps", {"name": "reborn"}).status_code == 201
    write(client, "reborn", "from the app that had the name before", ts="2026-01-01T00:00:00.000000Z")
    write(client, "reborn", "from this app")
    rows = wait_for(lambda: found(as_alice, "/api/apps/reborn/logs/search?q=app&since=3650d"), 20, "a line")
    assert [r["line"] for r in rows] == ["from this app"]


def test_without_paas_logs_search_is_503(as_alice, tmp_path, monkeypatch):
    monkeypatch.setenv("PAAS_LOG_SOCKET", str(tmp_path / "nothing.sock"))
    logcenter_settings.current.cache_clear()
    try:
        assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
        response = as_alice.get("/api/apps/shop/logs/search?q=x")
        assert response.status_code == 503 and "not answering" in response.json_body["message"]
    finally:
        logcenter_settings.current.cache_clear()


def test_cli_search_and_request(paas_logs, live_server, tmp_path):
    from tests.platform.test_cli import logged_in_cli

    _, client = paas_logs
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "cart", "--no-remote")
    write(client, "cart", 'at=info method=POST path="/pay" host=cart.localhost request_id=pay-1 fwd="10.0.0.2" '
                          'instance=cart-web-1 duration=900.5ms status=502 bytes=0',
          source="router", process="router", release="v1")
    write(client, "cart", "charging card for pay-1", request_id="pay-1", process="web.1", release="v1")
    out = wait_for(lambda: cli.run("logs", "-a", "cart", "--search", "status:>=500 duration:>800").stdout,
                   20, "the slow 502 found by the CLI")
    assert 'router[router]: at=info method=POST path="/pay"' in out
    request = wait_for(lambda: (r := cli.run("logs", "-a", "cart", "--request", "pay-1").stdout).count("\n") == 2
                       and r, 20, "both lines of the request")
    assert request.index("router[router]") < request.index("app[web.1]: charging card")   # in time order
    row = json.loads(cli.run("logs", "-a", "cart", "--search", "card", "--json").stdout)   # one match: one object
    assert row["line"] == "charging card for pay-1" and row["request_id"] == "pay-1"
    bad = cli.run("logs", "-a", "cart", "--search", '"open', ok=False)
    assert bad.returncode != 0 and "unbalanced quote" in bad.stderr and "Traceback" not in bad.stderr
    shown = wait_for(lambda: "v1" in (r := cli.run("metrics", "-a", "cart", "--since", "1h").stdout) and r, 20,
                     "the request counted")
    assert "P95 MS" in shown and "1.0" in shown     # one request, and it was a 502: a 5XX RATE of 1.0
    report = json.loads(cli.run("metrics", "-a", "cart", "--json").stdout)
    assert report["releases"][0]["errors_5xx"] == 1
    bad = cli.run("metrics", "-a", "cart", "--release", "latest", ok=False)
    assert bad.returncode != 0 and "release: wants" in bad.stderr and "Traceback" not in bad.stderr


def test_metrics_per_release_from_router_lines(as_alice, as_bob, paas_logs):
    _, client = paas_logs
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    for i, (status, duration) in enumerate([(200, 10.0), (200, 20.0), (500, 30.0), (200, 40.0)]):
        write(client, "shop", f'at=info method=GET path="/p{i}" host=shop.localhost request_id=m-{i} fwd="10.0.0.1" '
                              f"instance=shop-v3-web-1-abc123 duration={duration}ms status={status} bytes=5",
              source="router", process="router", release="v3")

    def v3():
        response = as_alice.get("/api/apps/shop/metrics?since=1h")
        assert response.status_code == 200, response.json_body
        rows = response.json_body["releases"]
        return rows and rows[0]["requests"] == 4 and rows[0]

    row = wait_for(v3, 20, "the router lines counted")
    assert (row["release"], row["process_type"], row["errors_5xx"], row["error_rate"]) == ("v3", "web", 1, 0.25)
    assert row["p50_ms"] in (20.0, 30.0) and row["p99_ms"] == 40.0
    assert as_alice.get("/api/apps/shop/metrics?release=v2").json_body["releases"] == []
    assert as_bob.get("/api/apps/shop/metrics").status_code == 403
    for params, problem in (("release=3", "release: wants"), ("since=10m&until=1h", "since is after until"),
                            ("since=90d", "at most 7 days")):
        response = as_alice.get(f"/api/apps/shop/metrics?{params}")
        assert response.status_code == 400 and problem in response.json_body["message"], response.json_body


def test_a_syslog_drain_on_loopback_receives_every_line(as_alice, as_bob, paas_logs, live_server, tmp_path):
    import socket
    import threading

    from paas.logcenter.drains import drains_key
    from tests.logcenter.test_drains import read_frames
    from tests.platform.test_cli import logged_in_cli

    _, client = paas_logs
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list = []

    def serve():
        listener.settimeout(60)
        conn, _ = listener.accept()
        with conn:
            read_frames(conn, 20, received, lambda m: b" drained app web.1 " in m)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "drained", "--no-remote")
    added = cli.run("drains:add", f"syslog://127.0.0.1:{port}", "-a", "drained")
    assert "Draining drained's lines" in added.stdout
    # paas-logs takes up drains every 2 s; lines from then on are sent.
    wait_for(lambda: json.loads(cli.run("drains", "-a", "drained", "--json").stdout)[0]["state"] != "starting", 20,
             "paas-logs running the drain")
    for i in range(20):
        write(client, "drained", f"drained line {i}", process="web.1")
    thread.join(60)
    listener.close()
    app_lines = [m for m in received if b" drained app web.1 " in m]
    assert [m.split(b" - - ", 1)[1] for m in app_lines] == [f"drained line {i}".encode() for i in range(20)]
    assert all(m.startswith(b"<190>1 ") for m in app_lines)
    # Everything of the app goes: its platform lines too (the drain's own "added" line, at least).
    assert any(b" drained platform " in m and b"added a drain" in m for m in received)
    shown = wait_for(lambda: (r := json.loads(cli.run("drains", "-a", "drained", "--json").stdout))[0]["sent"] >= 20
                     and r, 20, "the drain's state")
    assert shown[0]["dropped"] == 0 and shown[0]["url"] == f"syslog://127.0.0.1:{port}"
    refused = cli.run("drains:add", "gopher://example.com", "-a", "drained", ok=False)
    assert refused.returncode != 0 and "unknown scheme 'gopher'" in refused.stderr
    assert "Traceback" not in refused.stderr
    cli.run("drains:remove", f"syslog://127.0.0.1:{port}", "-a", "drained")
    assert "no drains" in cli.run("drains", "-a", "drained").stdout
    assert client.hget(drains_key(django_settings.PAAS_REDIS_PREFIX), "drained") is None


@pytest.mark.parametrize("body, status, problem", [
    ({"url": "ftp://logs.example.com"}, 400, "unknown scheme 'ftp'"),
    ({"url": "syslog://10.0.0.7:514"}, 400, "private address (10.0.0.7)"),
    ({"url": "https://169.254.169.254/latest"}, 400, "private address"),
    ({"url": "syslog+tls://nowhere.invalid"}, 400, "does not resolve"),
    ({"url": 42}, 400, "url: wanted"),
    ({}, 400, "url: wanted"),
])
def test_bad_drains_are_refused_naming_the_problem(as_alice, body, status, problem):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    response = as_alice.post("/api/apps/shop/drains", body)
    assert response.status_code == status and problem in response.json_body["message"], response.json_body
    assert as_alice.get("/api/apps/shop/drains").json_body == []


def test_drains_are_the_apps_own(as_alice, as_bob, monkeypatch, django_capture_on_commit_callbacks):
    from paas.logcenter.drains import drains_key
    from paas.platform.redis_client import get_redis

    monkeypatch.setenv("PAAS_LOG_DRAIN_ALLOW", "127.0.0.0/8")
    logcenter_settings.current.cache_clear()
    try:
        assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
        created = as_alice.post("/api/apps/shop/drains", {"url": "syslog://127.0.0.1:6514"})
        assert created.status_code == 201 and created.json_body["state"] == "starting"
        assert as_alice.post("/api/apps/shop/drains", {"url": "syslog://127.0.0.1:6514"}).status_code == 409
        assert as_bob.get("/api/apps/shop/drains").status_code == 403
        assert as_bob.delete(f"/api/apps/shop/drains/{created.json_body['id']}").status_code == 403
        assert as_alice.delete("/api/apps/shop/drains/999999").status_code == 404
        listed = as_alice.get("/api/apps/shop/drains").json_body     # no paas-logs here: its state is unknown
        assert listed[0]["state"] == "unknown"
        key = drains_key(django_settings.PAAS_REDIS_PREFIX)
        assert json.loads(get_redis().hget(key, "shop"))[0]["url"] == "syslog://127.0.0.1:6514"
        with django_capture_on_commit_callbacks(execute=True):
            assert as_alice.delete("/api/apps/shop?confirm=shop").status_code in (200, 202, 204)
        # The app is gone, and so are its drains: a new app of the name must not inherit them.
        assert get_redis().hget(key, "shop") is None
    finally:
        logcenter_settings.current.cache_clear()


def test_an_alert_webhook_fires_and_clears(paas_logs, live_server, tmp_path):
    import http.server
    import threading

    from tests.logcenter.test_alerts import Hook
    from tests.platform.test_cli import logged_in_cli

    _, client = paas_logs
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook.posts, hook.up = [], True
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "alerted", "--no-remote")
    try:
        for args, problem in ((("--per", "10s"), "per: wants a window"), (("--above", "-1"), "above: wants"),
                              (("--webhook", "ftp://x.example"), "unknown scheme 'ftp'")):
            options = {"--per": "5m", "--above": "2", "--webhook": f"http://127.0.0.1:{hook.server_port}/h"}
            options[args[0]] = args[1]
            bad = cli.run("logs:alerts:add", "spike", "payment failed", "-a", "alerted",
                          *[x for kv in options.items() for x in kv], ok=False)
            assert bad.returncode != 0 and problem in bad.stderr and "Traceback" not in bad.stderr
        added = cli.run("logs:alerts:add", "spike", '"payment failed"', "--above", "2", "--per", "1m",
                        "--webhook", f"http://127.0.0.1:{hook.server_port}/h", "-a", "alerted")
        assert "checked every minute" in added.stdout
        # Dated 45 s ago: inside the one-minute window now, out of it 15 s later, so the test sees the alert
        # fire and clear without waiting a whole window.
        from datetime import datetime, timedelta, timezone
        dated = (datetime.now(timezone.utc) - timedelta(seconds=45)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for i in range(3):
            write(client, "alerted", f"payment failed for order {i}", process="web.1", ts=dated)
        wait_for(lambda: hook.posts, 60, "the webhook called")
        assert (hook.posts[0]["state"], hook.posts[0]["alert"], hook.posts[0]["count"]) == ("firing", "spike", 3)
        assert "FIRING" in cli.run("logs:alerts", "-a", "alerted").stdout
        # The lines leave the one-minute window: the alert clears.
        wait_for(lambda: len(hook.posts) == 2, 60, "the alert cleared")
        assert hook.posts[1]["state"] == "cleared" and hook.posts[1]["count"] == 0
        cli.run("logs:alerts:remove", "spike", "-a", "alerted")
        assert "no log alerts" in cli.run("logs:alerts", "-a", "alerted").stdout
    finally:
        hook.shutdown()
        hook.server_close()


@pytest.mark.parametrize("body, problem", [
    ({"name": "Bad Name", "query": "x", "above": 1, "per": "5m", "webhook": "https://hooks.example.com"}, "name:"),
    ({"name": "a", "query": "colour:red", "above": 1, "per": "5m", "webhook": "https://hooks.example.com"},
     "unknown field 'colour'"),
    ({"name": "a", "query": "x", "above": 1.5, "per": "5m", "webhook": "https://hooks.example.com"}, "above:"),
    ({"name": "a", "query": "x", "above": 1, "per": 5, "webhook": "https://hooks.example.com"}, "per:"),
    ({"name": "a", "query": "x", "above": 1, "per": "5m", "webhook": "http://192.168.1.1/x"}, "private address"),
    ({"name": "a", "query": "x", "above": 1, "per": "5m"}, "url: wanted"),
])
def test_bad_alerts_are_400_naming_the_problem(as_alice, as_bob, body, problem):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    response = as_alice.post("/api/apps/shop/log-alerts", body)
    assert response.status_code == 400 and problem in response.json_body["message"], response.json_body
    assert as_alice.get("/api/apps/shop/log-alerts").json_body == []
    assert as_bob.get("/api/apps/shop/log-alerts").status_code == 403
    assert as_alice.delete("/api/apps/shop/log-alerts/nothing").status_code == 404


def test_tail_with_a_query(paas_logs, live_server, tmp_path):
    import subprocess as sp
    import threading

    from tests.platform.test_cli import PAAS, logged_in_cli

    _, client = paas_logs
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "tailed", "--no-remote")
    write(client, "tailed", "checkout before", process="web.1")
    wait_for(lambda: cli.run("logs", "-a", "tailed", "--search", "checkout").stdout, 20, "the first line stored")
    follower = sp.Popen([PAAS, "logs", "-a", "tailed", "--tail", "--search", "checkout -health"], cwd=cli.home,
                        env=cli.env(), stdout=sp.PIPE, stderr=sp.PIPE, text=True)
    guard = threading.Timer(60, follower.kill)     # a line that never comes ends the read, not the suite
    guard.start()
    try:
        assert "checkout before" in follower.stdout.readline()
        for line in ("GET /health checkout", "unrelated", "checkout after 1", "checkout after 2"):
            write(client, "tailed", line, process="web.1")
        assert "checkout after 1" in follower.stdout.readline()
        assert "checkout after 2" in follower.stdout.readline()
    finally:
        guard.cancel()
        follower.kill()
        follower.wait()
    bad = cli.run("logs", "-a", "tailed", "--tail", "--search", '"open', ok=False)
    assert bad.returncode != 0 and "unbalanced quote" in bad.stderr and "Traceback" not in bad.stderr


def test_storage_use_per_app(as_alice, as_bob, as_admin, paas_logs):
    _, client = paas_logs
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    for i in range(10):
        write(client, "shop", f"stored line {i}")
    used = wait_for(lambda: (r := as_alice.get("/api/apps/shop/logs/usage").json_body)["lines"] >= 10 and r, 20,
                    "the lines counted")
    assert used["app"] == "shop" and used["text_bytes"] >= 10 * len("stored line 0") and used["disk_bytes"] > 0
    assert used["retention_days"] == 30 and used["oldest"] <= used["newest"]
    assert as_bob.get("/api/apps/shop/logs/usage").status_code == 403
    assert as_alice.get("/api/logs/usage").status_code == 403
    assert "shop" in [row["app"] for row in as_admin.get("/api/logs/usage").json_body["apps"]]


def test_the_platforms_backup_alert_keeps_its_name(as_alice):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    body = {"name": "backups", "query": "x", "above": 1, "per": "5m", "webhook": "https://hooks.example.com"}
    response = as_alice.post("/api/apps/shop/log-alerts", body)
    assert response.status_code == 409 and "platform's alert" in response.json_body["message"]
    assert as_alice.delete("/api/apps/shop/log-alerts/backups").status_code == 409
    assert as_alice.get("/api/apps/shop/log-alerts").json_body == []  # no add-on: not even the platform's
