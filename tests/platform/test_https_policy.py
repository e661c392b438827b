"""paas https:redirect and https:hsts: checked whole, stored on the app, published in its route entry."""

import json

import pytest
from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.control.routes import RoutePublisher
from paas.platform.models import App, Event
from paas.platform.redis_client import get_redis
from tests.platform.test_cli import cli, cli_login_token  # noqa: F401  (the fixture, and its login helper)


@pytest.fixture
def shop(as_alice):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    return as_alice


def _entry() -> dict:
    RoutePublisher().publish()
    return json.loads(get_redis().get(redis_keys.route_app(settings.PAAS_REDIS_PREFIX, "shop")))


def test_redirect_and_hsts_are_stored_and_published(shop):
    assert _entry()["https_redirect"] is False and _entry()["hsts_max_age"] is None
    assert shop.call("put", "/api/apps/shop/https", {"redirect": True}).json_body == \
        {"app": "shop", "redirect": True, "hsts_max_age": None}
    assert shop.call("put", "/api/apps/shop/https", {"hsts_max_age": 31536000}).status_code == 200
    entry = _entry()
    assert entry["https_redirect"] is True and entry["hsts_max_age"] == 31536000
    assert shop.call("put", "/api/apps/shop/https", {"hsts_max_age": None}).json_body["hsts_max_age"] is None
    assert _entry()["hsts_max_age"] is None
    assert [e.message for e in Event.objects.filter(action="app.https").order_by("id")] == \
        ["HTTPS redirect on", "HSTS max-age=31536000", "HSTS off"]


@pytest.mark.parametrize("body, message", [
    ({"redirect": "yes"}, "redirect must be true or false"),
    ({"hsts_max_age": -1}, "HSTS max-age must be"),
    ({"hsts_max_age": "3600"}, "HSTS max-age must be"),
    ({"hsts_max_age": True}, "HSTS max-age must be"),
    ({"hsts_max_age": 10 ** 12}, "HSTS max-age must be"),
    ({"redirect": True, "hsts_max_age": 1.5}, "HSTS max-age must be"),   # nothing half-applied
    ({"redirects": True}, "give {"),
    ({}, "give {"),
])
def test_bad_policies_are_refused_whole(shop, body, message):
    response = shop.call("put", "/api/apps/shop/https", body)
    assert response.status_code == 422 and message in response.json_body["message"]
    app = App.objects.get(name="shop")
    assert app.https_redirect is False and app.hsts_max_age is None


def test_another_users_app_is_not_theirs_to_change(shop, as_bob):
    assert as_bob.call("put", "/api/apps/shop/https", {"redirect": True}).status_code == 403
    assert App.objects.get(name="shop").https_redirect is False


def test_cli_https_commands(cli):  # noqa: F811
    cli_login_token(cli)
    cli.run("apps:create", "secure", "--no-remote")
    assert "Redirect: on" in cli.run("https:redirect", "on", "-a", "secure").stdout
    assert cli.json("https:hsts", "--max-age", "600", "-a", "secure") == \
        {"app": "secure", "redirect": True, "hsts_max_age": 600}
    bad = cli.run("https:hsts", "--max-age", "-5", "-a", "secure", ok=False)
    assert bad.returncode == 1 and "HSTS max-age must be" in bad.stderr and "Traceback" not in bad.stderr
    assert "HSTS:     off" in cli.run("https:hsts", "--off", "-a", "secure").stdout
