"""Uploaded certificates through the API: checked before stored, never replacing a good one
with a bad one, published to the router's Redis key, warned about before they expire."""

import datetime
import json

import pytest
from django.conf import settings
from django.utils import timezone

from paas.contracts import redis_keys
from paas.platform.actions.certs import warn_expiring
from paas.platform.control.certs import publish_certificates
from paas.platform.models import Certificate, Domain, Event
from paas.platform.redis_client import get_redis
from tests.pki.certmaker import chain, key_pem, make, pem

HOST = "www.example.com"


@pytest.fixture
def app_with_domain(as_alice):
    assert as_alice.post("/api/apps", {"name": "shop"}).status_code == 201
    assert as_alice.post("/api/apps/shop/domains", {"hostname": HOST}).status_code == 201
    Domain.objects.filter(hostname=HOST).update(verified_at=timezone.now(), verified_by=Domain.BY_DNS)
    return as_alice


def _upload(domain=HOST, **kw):
    root, middle, (leaf, key) = chain(domain, **kw)
    return {"certificate": pem(leaf) + pem(middle[0]), "key": key_pem(key)}


def test_upload_list_info_remove_and_publish(app_with_domain):
    api = app_with_domain
    added = api.post("/api/apps/shop/certs", _upload())
    assert added.status_code == 201, added.json_body
    cert = added.json_body
    assert cert["domains"] == [HOST] and cert["expires_in_days"] >= 88 and "key" not in cert
    assert [c["name"] for c in api.get("/api/apps/shop/certs").json_body] == [cert["name"]]
    info = api.get(f"/api/apps/shop/certs/{cert['name']}").json_body
    assert info["chain"].count("BEGIN CERTIFICATE") == 2 and "PRIVATE" not in json.dumps(info)

    redis = get_redis()
    key = redis_keys.tls_certificates(settings.PAAS_REDIS_PREFIX)
    assert publish_certificates(redis, settings.PAAS_REDIS_PREFIX)
    served = json.loads(redis.hget(key, HOST))
    assert served["chain"] == info["chain"] and "PRIVATE KEY" in served["key"]

    assert api.delete(f"/api/apps/shop/certs/{cert['name']}").status_code == 200
    assert publish_certificates(redis, settings.PAAS_REDIS_PREFIX)
    assert redis.hgetall(key) == {}


@pytest.mark.parametrize("case, message", [
    ("garbage", "CERT is not a PEM certificate"),
    ("swapped", "CERT holds a private key"),
    ("mismatch", "KEY does not match"),
    ("expired", "expired on"),
    ("passphrase", "passphrase"),
    ("unverified", "covers no verified domain of shop"),
    ("missing", "CERT is empty"),
])
def test_bad_uploads_are_refused_and_keep_the_good_one(app_with_domain, case, message):
    api = app_with_domain
    good = api.post("/api/apps/shop/certs", _upload()).json_body
    body = _upload()
    if case == "garbage":
        body["certificate"] = "hello"
    elif case == "swapped":
        body = {"certificate": body["key"], "key": body["certificate"]}
    elif case == "mismatch":
        body["key"] = key_pem(make("x")[1])
    elif case == "expired":
        body = _upload(days=-1, start_days=-30)
    elif case == "passphrase":
        root, middle, (leaf, key) = chain(HOST)
        body = {"certificate": pem(leaf), "key": key_pem(key, b"secret")}
    elif case == "unverified":
        body = _upload("api.other.example")
    elif case == "missing":
        body.pop("certificate")
    refused = api.post("/api/apps/shop/certs", body)
    assert refused.status_code in (400, 422), refused.json_body
    assert message in json.dumps(refused.json_body)
    assert "PRIVATE KEY" not in json.dumps(refused.json_body)
    assert [c.name for c in Certificate.objects.all()] == [good["name"]]


def test_other_users_cannot_see_or_remove_a_certificate(app_with_domain, as_bob):
    name = app_with_domain.post("/api/apps/shop/certs", _upload()).json_body["name"]
    assert as_bob.get("/api/apps/shop/certs").status_code == 403
    assert as_bob.delete(f"/api/apps/shop/certs/{name}").status_code == 403
    assert app_with_domain.get("/api/apps/shop/certs/%00").status_code in (400, 404)


def test_an_event_once_14_days_before_expiry(app_with_domain):
    app_with_domain.post("/api/apps/shop/certs", _upload(days=20))
    assert warn_expiring() == 0
    later = timezone.now() + datetime.timedelta(days=7)
    assert warn_expiring(later) == 1
    assert warn_expiring(later) == 0
    event = Event.objects.get(action="cert.expiring")
    assert "expires on" in event.message and event.app.name == "shop"
