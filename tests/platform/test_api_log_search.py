"""GET /api/apps/<app>/logs/search and /api/logs/search through a real paas-logs process and real Redis."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings as django_settings

from paas.logcenter import schema
from paas.logcenter import settings as logcenter_settings
from paas.runtime import config
from tests.platform.accounts import make_user
from tests.waiting import wait_for

BIN = Path(sys.executable).parent


@pytest.fixture
def paas_logs(tmp_path, monkeypatch):
    """paas-logs on this test's Redis prefix, its socket and store under tmp_path; the API pointed at it."""
    env = {**os.environ, "REDIS_URL": config.redis_url(), "PAAS_REDIS_PREFIX": django_settings.PAAS_REDIS_PREFIX,
           "PAAS_DATA_DIR": str(tmp_path), "PAAS_LOG_CONSUMER": "test"}
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path))
    logcenter_settings.current.cache_clear()
    process = subprocess.Popen([str(BIN / "paas-logs")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    socket_path = tmp_path / "logcenter" / "paas-logs.sock"
    wait_for(lambda: socket_path.is_socket() or process.poll() is not None, 60, "paas-logs listening")
    assert process.poll() is None, process.stderr.read()[-2000:]
    client = redis_lib.Redis.from_url(config.redis_url())
    yield process, client
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    keys = list(client.scan_iter(match=django_settings.PAAS_REDIS_PREFIX + "*"))
    if keys:
        client.delete(*keys)
    client.close()
    logcenter_settings.current.cache_clear()


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
    from tests.platform.test_cli import Cli, cli_login_token

    _, client = paas_logs
    home = tmp_path / "home"
    home.mkdir()
    make_user("carol")
    cli = Cli(home, live_server.url)
    cli_login_token(cli)
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
