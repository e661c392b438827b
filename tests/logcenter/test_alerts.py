"""Alerts: a saved search counted in a real store, and a webhook on loopback called when it crosses and clears."""

import http.server
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from paas.logcenter import alerts, destinations, schema
from paas.logcenter.query import QueryError

LOOPBACK = destinations.allowed_networks("127.0.0.0/8")


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200 if self.server.up else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.posts, server.up = [], True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def lines(service, now, texts):
    service.store.insert([schema.Record(time=now - timedelta(seconds=i), app="shop", source="app", line=text)
                          for i, text in enumerate(texts)], [f"{i}-9" for i in range(len(texts))])


def rule(port, **extra):
    return {"id": 1, "name": "payments", "query": '"payment failed" -level:debug', "above": 3, "per_s": 300,
            "webhook": f"http://127.0.0.1:{port}/hook", **extra}


def test_an_alert_fires_once_when_crossed_and_once_when_cleared(service, webhook):
    now = datetime.now(timezone.utc)
    lines(service, now, ["payment failed: card declined"] * 5 + ["payment ok"] * 10)
    service.alerts.sync({b"shop": json.dumps([rule(webhook.server_port)])})
    service.alerts.check(service.count, now)
    assert [(p["state"], p["count"], p["alert"], p["app"]) for p in webhook.posts] == [("firing", 5, "payments",
                                                                                         "shop")]
    service.alerts.check(service.count, now + timedelta(seconds=30))      # still above: no second call
    assert len(webhook.posts) == 1
    assert service.alerts.status("shop")[0]["firing"] is True
    service.alerts.check(service.count, now + timedelta(minutes=10))      # the lines left the window
    assert [p["state"] for p in webhook.posts] == ["firing", "cleared"] and webhook.posts[1]["count"] == 0
    assert service.alerts.status("other") == []


def test_a_failing_webhook_is_tried_again_next_check(service, webhook):
    now = datetime.now(timezone.utc)
    lines(service, now, ["payment failed"] * 4)
    service.alerts.sync({"shop": json.dumps([rule(webhook.server_port)])})
    webhook.up = False
    service.alerts.check(service.count, now)
    state = service.alerts.status("shop")[0]
    assert state["firing"] is False and "HTTP 500" in state["last_error"]
    webhook.up = True
    service.alerts.check(service.count, now)
    assert [p["state"] for p in webhook.posts] == ["firing", "firing"]
    assert service.alerts.status("shop")[0]["firing"] is True and not service.alerts.status("shop")[0]["last_error"]


def test_a_private_webhook_is_refused_when_sent_too(service):
    service.alerts.allowed = []          # the admin allowed nothing: loopback is private
    now = datetime.now(timezone.utc)
    lines(service, now, ["payment failed"] * 4)
    service.alerts.sync({"shop": json.dumps([rule(9)])})
    service.alerts.check(service.count, now)
    assert "private address" in service.alerts.status("shop")[0]["last_error"]


@pytest.mark.parametrize("fields, problem", [
    (("", 3, "5m", "https://hooks.example.com"), "query: wants a search"),
    (('"open', 3, "5m", "https://hooks.example.com"), "unbalanced quote"),
    (("colour:red", 3, "5m", "https://hooks.example.com"), "unknown field 'colour'"),
    (("error", -1, "5m", "https://hooks.example.com"), "above: wants a whole number"),
    (("error", "3", "5m", "https://hooks.example.com"), "above: wants a whole number"),
    (("error", 3, "30s", "https://hooks.example.com"), "per: wants a window from 1m to 1d"),
    (("error", 3, "2d", "https://hooks.example.com"), "per: wants"),
    (("error", 3, "5m", "syslog://hooks.example.com"), "unknown scheme 'syslog'"),
    (("error", 3, "5m", "http://10.0.0.1/hook"), "private address"),
])
def test_bad_alerts_name_the_problem(fields, problem):
    with pytest.raises((QueryError, destinations.DestinationError)) as caught:
        alerts.check_rule(*fields, allowed=[])
    assert problem in str(caught.value)


def test_per_windows():
    assert alerts.per_seconds("5m") == 300 and alerts.per_seconds("1h") == 3600 and alerts.per_seconds("1d") == 86400
