"""The app page's autoscaling, canary and domain-verify forms: the API's actions, refusing what the API refuses.

Each refusal comes back to the page as the action's own message and changes nothing; a
user who may not work on the app changes nothing either.
"""

import pytest

from paas.platform.models import Autoscale, Canary, Domain, Event, Release
from tests.security.test_domains import dns_server
from tests.web.test_views import follow_message, text

pytestmark = pytest.mark.usefixtures("own_redis_keys")

PAGE = "/console/apps/alice-app/"


def post(client, path: str, data: dict) -> str:
    """The page a form post went back to, with its message."""
    return follow_message(client, client.post(PAGE + path, {"next": PAGE, **data}))


REFUSED_AUTOSCALING = [
    ({"min": "2.5", "max": "4", "target_rps": "10"}, "min must be a whole number"),
    ({"min": "5", "max": "2", "target_rps": "10"}, "min (5) is above max (2)"),
    ({"min": "1", "max": "4"}, "give a target"),
    ({"min": "1", "max": "four", "target_rps": "10"}, "max must be a whole number"),
    ({"min": "1", "max": "4", "target_rps": "nan"}, "target_rps must be from"),
    ({"max": "4", "target_rps": "10"}, "min is required"),
    ({"min": "1", "max": "4", "target_rps": "10", "type": "worker"}, "unknown process type worker"),
]


def test_autoscaling_form_refuses_what_the_api_refuses(alice_app, alice_client):
    for fields, message in REFUSED_AUTOSCALING:
        page = post(alice_client, "autoscale", {"type": "web", **fields})
        assert message in page, fields
    assert not Autoscale.objects.exists()


def test_autoscaling_is_set_changed_and_turned_off_by_members_only(alice_app, bob_app, alice_client, bob_client):
    assert 'action="/console/apps/alice-app/autoscale"' in text(alice_client.get(PAGE))
    page = post(alice_client, "autoscale", {"type": "web", "min": "1", "max": "3", "target_rps": "20.5"})
    assert "Autoscaling web: 1 to 3 instances" in page and "20.5 requests/s per instance" in page
    page = post(alice_client, "autoscale", {"type": "web", "min": "2", "max": "6", "target_p95_ms": "300"})
    scaler = Autoscale.objects.get(app=alice_app)
    assert (scaler.min_quantity, scaler.max_quantity, scaler.target_rps, scaler.target_p95_ms) == (2, 6, None, 300)
    assert "bob-app" not in page

    refused = post(bob_client, "autoscale", {"type": "web", "min": "0", "max": "1"})
    assert "do not have access" in refused
    assert "do not have access" in post(bob_client, "autoscale/off", {"type": "web"})
    assert Autoscale.objects.filter(app=alice_app, min_quantity=2).exists()

    assert "Autoscaling of web turned off" in post(alice_client, "autoscale/off", {"type": "web"})
    assert "web of alice-app is not autoscaled" in post(alice_client, "autoscale/off", {"type": "web"})
    assert list(Event.objects.filter(app=alice_app, action__startswith="autoscale.").values_list(
        "action", flat=True).order_by("pk")) == ["autoscale.set", "autoscale.set", "autoscale.off"]


def test_canary_is_started_promoted_and_aborted_as_the_api_does(alice_app, bob_app, alice_client, bob_client):
    live = Release.objects.get(app=alice_app, status=Release.SUCCEEDED)
    trial = Release.objects.filter(app=alice_app).latest("version")  # the config change's release
    page = text(alice_client.get(PAGE))
    assert f'<option value="{trial.version}">' in page and f'<option value="{live.version}">' not in page

    assert "percent must be a whole number from 1 to 99" in post(alice_client, "canary", {"version": trial.version,
                                                                                           "percent": "150"})
    assert "percent must be a whole number" in post(alice_client, "canary", {"version": trial.version,
                                                                              "percent": "12.5"})
    assert "is already the live release" in post(alice_client, "canary", {"version": live.version, "percent": "10"})
    assert "is not a release version" in post(alice_client, "canary", {"version": "v1; drop", "percent": "10"})
    assert "do not have access" in post(bob_client, "canary", {"version": trial.version, "percent": "10"})
    assert not Canary.objects.exists()

    page = post(alice_client, "canary", {"version": f"v{trial.version}", "percent": "10"})
    assert f"Canary v{trial.version} takes 10% of web traffic" in page and "Promote v" in page
    assert "already has a canary" in post(alice_client, "canary", {"version": trial.version, "percent": "20"})
    assert "do not have access" in post(bob_client, "canary/promote", {})
    assert "do not have access" in post(bob_client, "canary/abort", {})
    assert "Canary aborted" in post(alice_client, "canary/abort", {})
    assert "alice-app has no canary" in post(alice_client, "canary/promote", {})

    post(alice_client, "canary", {"version": trial.version, "percent": "30"})
    page = post(alice_client, "canary/promote", {})
    assert f"Promote canary v{trial.version}" in page
    assert not Canary.objects.exists()


def test_verify_now_checks_the_dns_record_as_the_api_does(alice_app, bob_app, alice_client, bob_client, settings):
    settings.PAAS_DNS_TIMEOUT_S = 0.5
    post(alice_client, "domains", {"hostname": "www.alice.example"})
    post(alice_client, "domains", {"hostname": "shop.alice.example"})
    domain = Domain.objects.get(hostname="www.alice.example")
    assert "Verify now" in text(alice_client.get(PAGE))
    with dns_server(settings, {domain.record_name: domain.token}):
        assert "do not have access" in post(bob_client, "domains/verify", {"hostname": "www.alice.example"})
        assert "not added to alice-app" in post(alice_client, "domains/verify", {"hostname": "nope.alice.example"})
        missing = post(alice_client, "domains/verify", {"hostname": "shop.alice.example"})
        assert "no TXT record at _paas-verify.shop.alice.example yet" in missing
        assert not Domain.objects.filter(verified_at__isnull=False).exists()
        page = post(alice_client, "domains/verify", {"hostname": "www.alice.example"})
    assert "www.alice.example is verified: it is routed to alice-app" in page
    assert Domain.objects.get(hostname="www.alice.example").verified_by == Domain.BY_DNS
    assert Event.objects.filter(app=alice_app, action="domain.verify").count() == 1
