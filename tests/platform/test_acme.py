"""Automatic certificates: the deciding logic, the API's refusals, and real orders from Debian's pebble
validated through the real router's plain port."""

import datetime
import socket
import ssl

import pytest
from django.conf import settings
from django.utils import timezone

from paas.contracts import redis_keys
from paas.platform.control import acme
from paas.platform.control.certs import publish_certificates
from paas.platform.control.routes import RoutePublisher
from paas.platform.models import App, Certificate, Domain, Event
from paas.platform.redis_client import get_redis
from tests.pki.certmaker import chain, key_pem, make, pem
from tests.pki.pebble import Pebble
from tests.platform.test_cli import cli, cli_login_token  # noqa: F401  (the fixture, and its login helper)
from tests.router.router_helpers import RunningRouter, router_settings, wait_until

HOST = "shop.example.test"
UTC = datetime.timezone.utc


@pytest.fixture
def shop(as_alice, settings):
    settings.PAAS_ACME_DIRECTORY = "https://acme.invalid/dir"
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    assert as_alice.post("/api/apps/shop/domains", {"hostname": HOST}).status_code == 201
    Domain.objects.filter(hostname=HOST).update(verified_at=timezone.now(), verified_by=Domain.BY_ADMIN)
    return as_alice


# --- the deciding logic ----------------------------------------------------------

def test_renewal_at_two_thirds_of_the_lifetime():
    start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    assert acme.renew_after(start, start + datetime.timedelta(days=90)) == start + datetime.timedelta(days=60)
    assert acme.renew_after(start, start + datetime.timedelta(days=6)) == start + datetime.timedelta(days=4)


def test_retries_back_off_to_a_day():
    assert [acme.retry_delay(n).total_seconds() / 60 for n in (1, 2, 3)] == [5, 10, 20]
    assert acme.retry_delay(50) == datetime.timedelta(days=1)


def test_due_domains_follow_certificates_and_retry_times(shop):
    now = timezone.now()
    assert acme.due_domains(now) == []   # ACME is off for shop
    assert shop.call("put", "/api/apps/shop/certs/auto", {"enabled": True}).json_body["enabled"] is True
    assert [d.hostname for d in acme.due_domains(now)] == [HOST]
    app = App.objects.get(name="shop")
    cert = Certificate.objects.create(app=app, name="a" * 16, fingerprint="x", chain_pem="", key_pem="",
                                      names=[HOST], not_after=now + datetime.timedelta(days=30),
                                      source=Certificate.ACME, renew_after=now + datetime.timedelta(days=1))
    assert acme.due_domains(now) == []
    assert [d.hostname for d in acme.due_domains(now + datetime.timedelta(days=2))] == [HOST]   # renewal
    cert.delete()
    Domain.objects.filter(hostname=HOST).update(acme_next_try=now + datetime.timedelta(minutes=5))
    assert acme.due_domains(now) == []   # backing off (or leased to a running order)


# --- the API ----------------------------------------------------------------------

def test_self_signed_upload_is_refused_for_an_acme_app(shop):
    leaf, key = make(HOST, names=[HOST])
    body = {"certificate": pem(leaf), "key": key_pem(key)}
    shop.call("put", "/api/apps/shop/certs/auto", {"enabled": True})
    refused = shop.post("/api/apps/shop/certs", body)
    assert refused.status_code == 422 and "self-signed" in refused.json_body["message"]
    assert not Certificate.objects.exists()
    # A CA-issued one is taken; so is the self-signed one once ACME is off.
    root, middle, (good, good_key) = chain(HOST)
    assert shop.post("/api/apps/shop/certs", {"certificate": pem(good) + pem(middle[0]),
                                              "key": key_pem(good_key)}).status_code == 201
    shop.call("put", "/api/apps/shop/certs/auto", {"enabled": False})
    assert shop.post("/api/apps/shop/certs", body).status_code == 201


def test_enabling_needs_a_directory_and_a_boolean(shop, settings):
    assert shop.call("put", "/api/apps/shop/certs/auto", {"enabled": "yes"}).status_code == 422
    settings.PAAS_ACME_DIRECTORY = ""
    off = shop.call("put", "/api/apps/shop/certs/auto", {"enabled": True})
    assert off.status_code == 503 and "PAAS_ACME_DIRECTORY" in off.json_body["message"]
    assert App.objects.get(name="shop").acme is False
    assert acme.schedule_due() == 0


def test_challenge_answers_are_checked_before_publishing(shop):
    with pytest.raises(ValueError):
        acme.publish_challenge(HOST, "../../etc/passwd" + "a" * 20, "x")
    with pytest.raises(ValueError):
        acme.publish_challenge(HOST, "A" * 43, "B" * 43 + "." + "t" * 43)   # another token's answer
    assert get_redis().hgetall(redis_keys.acme_challenges(settings.PAAS_REDIS_PREFIX)) == {}


# --- real orders: pebble validates through the router ------------------------------

@pytest.fixture
def platform_tls(shop, tmp_path, monkeypatch):
    """The route table published, a router with TLS reading it, pebble validating on its plain port."""
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path / "data"))
    s = router_settings(settings.PAAS_REDIS_PREFIX)
    s.redis_url = settings.REDIS_URL
    s.tls_port = 0
    router = RunningRouter(s)
    try:
        pebble = Pebble(tmp_path / "pebble", router.port)
        try:
            settings.PAAS_ACME_DIRECTORY = pebble.directory_url
            settings.PAAS_ACME_CA_BUNDLE = pebble.ca_file
            shop.call("put", "/api/apps/shop/certs/auto", {"enabled": True})
            RoutePublisher().publish()
            wait_until(lambda: router.router.table.app_for_host(HOST) == "shop", what="route to shop")
            yield router, pebble
        finally:
            pebble.close()
    finally:
        router.stop()


def test_a_domain_gets_its_certificate_from_pebble_and_the_router_serves_it(platform_tls, shop, tmp_path):
    router, pebble = platform_tls
    assert acme.run_order(Domain.objects.get(hostname=HOST).pk) == acme.ISSUED
    cert = Certificate.objects.get(source=Certificate.ACME)
    assert cert.names == [HOST]
    assert timezone.now() < cert.renew_after < cert.not_after
    # The answers are gone from Redis once the order is done.
    assert get_redis().hgetall(redis_keys.acme_challenges(settings.PAAS_REDIS_PREFIX)) == {}
    assert Event.objects.filter(action="cert.acme.issued").exists()
    publish_certificates(get_redis(), settings.PAAS_REDIS_PREFIX)
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.root_pem())
    ctx = ssl.create_default_context(cafile=str(root))

    def served():
        try:
            with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                    return s.getpeercert()["subjectAltName"]
        except (ssl.SSLError, OSError):
            return None

    assert wait_until(served, timeout=10, what="the ACME certificate served") == (("DNS", HOST),)
    status = shop.get("/api/apps/shop/certs/auto").json_body
    assert status["domains"] == [{"hostname": HOST, "status": "issued", "error": None, "next_try": None}]


def test_a_failed_validation_is_reported_with_the_acme_error(platform_tls, shop):
    router, pebble = platform_tls
    pebble.set_address(HOST, "127.0.0.2")   # nothing answers there: the CA cannot read the challenge
    domain = Domain.objects.get(hostname=HOST)
    assert acme.run_order(domain.pk) == acme.FAILED
    domain.refresh_from_db()
    assert domain.acme_status == "failed" and domain.acme_failures == 1 and "connection" in domain.acme_error
    assert domain.acme_next_try > timezone.now()
    event = Event.objects.get(action="cert.acme.failed")
    assert HOST in event.message and domain.acme_error in event.message
    assert not Certificate.objects.exists()
    assert shop.get("/api/apps/shop/certs/auto").json_body["domains"][0]["error"] == domain.acme_error


def test_schedule_leases_each_due_domain_once(shop):
    shop.call("put", "/api/apps/shop/certs/auto", {"enabled": True})
    now = timezone.now()
    # The tasks go out on commit (not here: this test's transaction never commits), the lease now.
    assert acme.schedule_due(now) == 1
    domain = Domain.objects.get(hostname=HOST)
    assert domain.acme_status == "ordering" and domain.acme_next_try == now + acme.ORDER_LEASE
    assert acme.schedule_due(now) == 0
    assert acme.schedule_due(now + acme.ORDER_LEASE + datetime.timedelta(seconds=1)) == 1   # a lost task
    assert shop.get("/api/apps/shop/certs/auto").json_body["domains"][0]["status"] == "ordering"


def test_cli_certs_auto_and_the_error_in_paas_certs(cli, settings):  # noqa: F811
    settings.PAAS_ACME_DIRECTORY = "https://acme.invalid/dir"
    cli_login_token(cli)
    cli.run("apps:create", "autoshop", "--no-remote")
    assert "Automatic certificates are off" in cli.run("certs:auto", "-a", "autoshop").stdout
    assert "Automatic certificates are on" in cli.run("certs:auto:enable", "-a", "autoshop").stdout
    Domain.objects.create(app=App.objects.get(name="autoshop"), hostname="auto.example.test",
                          verified_at=timezone.now(), verified_by=Domain.BY_ADMIN, acme_status="failed",
                          acme_error="rejectedIdentifier: no such name", acme_failures=1)
    shown = cli.run("certs", "-a", "autoshop").stdout
    assert "auto.example.test" in shown and "failed" in shown and "rejectedIdentifier: no such name" in shown
    cli.run("certs:auto:disable", "-a", "autoshop")
    settings.PAAS_ACME_DIRECTORY = ""
    refused = cli.run("certs:auto:enable", "-a", "autoshop", ok=False)
    assert refused.returncode == 1 and "PAAS_ACME_DIRECTORY" in refused.stderr and "Traceback" not in refused.stderr
