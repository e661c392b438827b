"""Retention per app: GET/PUT /api/apps/<app>/logs/retention, what it publishes for paas-logs, paas logs:retention,
and paas-logs dropping an app's lines past its days (end to end)."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings as django_settings

from paas.logcenter import schema
from paas.logcenter.retention import retention_key
from paas.platform.models import Event
from tests.waiting import wait_for


def put(client, app, body=None, raw=None):
    return client.call("put", f"/api/apps/{app}/logs/retention", body, raw)


def published(app):
    from paas.platform.redis_client import get_redis

    return get_redis().hget(retention_key(django_settings.PAAS_REDIS_PREFIX), app)


def test_an_app_sets_its_retention_within_the_maximum(as_alice, as_bob, django_capture_on_commit_callbacks):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    assert as_alice.get("/api/apps/shop/logs/retention").json_body == {
        "app": "shop", "days": 30, "own": False, "default_days": 30, "max_days": 90}
    with django_capture_on_commit_callbacks(execute=True):
        changed = put(as_alice, "shop", {"days": 7})
    assert changed.status_code == 200 and changed.json_body["days"] == 7 and changed.json_body["own"] is True
    assert published("shop") == b"7"
    assert Event.objects.filter(action="logs.retention", app_name="shop").count() == 1
    assert put(as_bob, "shop", {"days": 1}).status_code == 403
    assert as_bob.get("/api/apps/shop/logs/retention").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        back = put(as_alice, "shop", {"days": None})
    assert back.json_body["days"] == 30 and back.json_body["own"] is False and published("shop") is None
    with django_capture_on_commit_callbacks(execute=True):
        put(as_alice, "shop", {"days": 90})
        assert as_alice.delete("/api/apps/shop?confirm=shop").status_code in (200, 202, 204)
    assert published("shop") is None      # a new app of the name must not inherit it


@pytest.mark.parametrize("body, problem", [
    ({"days": 0}, "from 1 to 90"), ({"days": 91}, "from 1 to 90"), ({"days": "7"}, "from 1 to 90"),
    ({"days": 7.5}, "from 1 to 90"), ({"days": True}, "from 1 to 90"), ({"days": 10**30}, "from 1 to 90"),
    ({}, "days: wanted"), (None, ""),
])
def test_bad_days_are_400_naming_the_problem_and_change_nothing(as_alice, body, problem):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    assert put(as_alice, "shop", {"days": 14}).status_code == 200
    refused = put(as_alice, "shop", body) if body is not None else put(as_alice, "shop", raw=b"{not json")
    assert refused.status_code == 400 and problem in refused.json_body["message"], refused.json_body
    assert as_alice.get("/api/apps/shop/logs/retention").json_body["days"] == 14


def test_paas_logs_drops_an_apps_lines_past_its_retention(paas_logs, live_server, tmp_path):
    from tests.platform.test_cli import logged_in_cli

    _, client = paas_logs
    cli = logged_in_cli(live_server, tmp_path / "home")
    cli.run("apps:create", "brief", "--no-remote")
    cli.run("apps:create", "ample", "--no-remote")
    ten_days_ago = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for app in ("brief", "ample"):
        for line, ts in ((f"{app} older line", ten_days_ago), (f"{app} newer line", None)):
            client.xadd(schema.stream_key(django_settings.PAAS_REDIS_PREFIX, app),
                        schema.entry(app=app, source="app", line=line, ts=ts))

    def stored(app):     # lines older than the app are never shown by search: usage counts them
        return json.loads(cli.run("logs:usage", "-a", app, "--json").stdout)

    five_days_ago = (datetime.now(timezone.utc) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_for(lambda: all((stored(app)["oldest"] or "9") < five_days_ago for app in ("brief", "ample")), 20,
             "the lines of ten days ago stored")
    shown = cli.run("logs:retention", "-a", "brief", "7").stdout
    assert "kept 7 days (its own setting; default 30, at most 90)" in shown
    after = wait_for(lambda: (r := stored("brief"))["oldest"] > five_days_ago and r, 30,
                     "brief's line of ten days ago dropped")
    assert after["retention_days"] == 7
    assert "brief newer line" in cli.run("logs", "-a", "brief", "--search", "line").stdout
    assert stored("ample")["oldest"] < five_days_ago
    bad = cli.run("logs:retention", "-a", "brief", "365", ok=False)
    assert bad.returncode != 0 and "from 1 to 90" in bad.stderr and "Traceback" not in bad.stderr
