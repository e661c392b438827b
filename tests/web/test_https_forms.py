"""The app page's HTTPS section: certificates (upload, remove), automatic certificates, redirect and HSTS.

Each form calls the API's action, so a bad certificate, key or max-age comes back as the action's
own message and changes nothing, and a user who may not work on the app changes nothing either.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from paas.pki.uploaded import MAX_PEM_BYTES
from paas.platform.actions.https import MAX_HSTS_AGE
from paas.platform.models import App, Certificate, Domain, Event
from tests.pki.certmaker import chain, key_pem, make, pem
from tests.web.test_views import follow_message, text

pytestmark = pytest.mark.usefixtures("own_redis_keys")

PAGE = "/console/apps/alice-app/"
HOST = "www.alice.example"


def post(client, path: str, data: dict) -> str:
    """The page a form post went back to, with its message."""
    return follow_message(client, client.post(PAGE + path, {"next": PAGE, **data}))


def upload(domain=HOST, **kw) -> dict:
    root, middle, (leaf, key) = chain(domain, **kw)
    return {"certificate": pem(leaf) + pem(middle[0]), "key": key_pem(key)}


@pytest.fixture
def verified(alice_app):
    Domain.objects.create(app=alice_app, hostname=HOST, verified_at=timezone.now(), verified_by=Domain.BY_DNS)
    return alice_app


def test_a_certificate_is_uploaded_shown_with_its_expiry_and_removed(verified, alice_client):
    body = upload()
    page = post(alice_client, "certs", body)
    cert = Certificate.objects.get(app=verified)
    assert f"Added certificate {cert.name} for {HOST}" in page
    assert f"<code>{cert.name}</code>" in page and f"{cert.not_after:%Y-%m-%d}" in page and "in 89 days" in page
    assert not any(secret in page for secret in body["key"].splitlines()[1:-1])   # never the key, nor the chain
    assert not any(line in page for line in cert.chain_pem.splitlines() if not line.startswith("-----"))
    page = post(alice_client, "certs/remove", {"cert": cert.name})
    assert f"Removed certificate {cert.name}" in page and not Certificate.objects.exists()
    assert list(Event.objects.filter(app=verified, action__startswith="cert.").values_list("action", flat=True)
                .order_by("pk")) == ["cert.add", "cert.remove"]


def test_files_are_read_as_the_pasted_text_is(verified, alice_client):
    body = upload()
    files = {"certificate_file": SimpleUploadedFile("cert.pem", body["certificate"].encode()),
             "key_file": SimpleUploadedFile("key.pem", body["key"].encode())}
    assert "Added certificate" in post(alice_client, "certs", files)
    large = {"certificate_file": SimpleUploadedFile("big.pem", b"A" * (MAX_PEM_BYTES * 4)), "key": body["key"]}
    assert "CERT is larger than 64 KiB" in post(alice_client, "certs", large)
    binary = {"certificate_file": SimpleUploadedFile("cert.der", b"\x30\x82\xff\xfe\x00"), "key": body["key"]}
    assert "CERT is not a PEM certificate" in post(alice_client, "certs", binary)
    assert Certificate.objects.count() == 1


def bad_uploads():
    good = upload()
    root, middle, (leaf, key) = chain(HOST)
    return [
        ({**good, "certificate": "-----BEGIN CERTIFICATE-----\ngarbage\n"}, "CERT is not a PEM certificate"),
        ({"certificate": good["key"], "key": good["certificate"]}, "CERT holds a private key"),
        ({**good, "key": key_pem(make("other")[1])}, "KEY does not match the certificate"),
        ({"certificate": pem(leaf), "key": key_pem(key, b"secret")}, "protected by a passphrase"),
        (upload(days=-1, start_days=-30), "the certificate expired on"),
        (upload("api.elsewhere.example"), "covers no verified domain of alice-app"),
        ({**good, "certificate": ""}, "CERT is empty"),
    ]


def test_bad_uploads_say_why_and_keep_the_good_certificate(verified, alice_client):
    post(alice_client, "certs", upload())
    good = list(Certificate.objects.values_list("name", "chain_pem"))
    for fields, message in bad_uploads():
        page = post(alice_client, "certs", fields)
        assert message in page, message
        echoed = [line for text in fields.values() for line in text.splitlines() if not line.startswith("-----")]
        assert not any(line in page for line in echoed)   # nothing of the upload echoed
    assert list(Certificate.objects.values_list("name", "chain_pem")) == good
    assert "no certificate nope on alice-app" in post(alice_client, "certs/remove", {"cert": "nope"})


def test_automatic_certificates_on_and_off_with_the_last_acme_error(verified, alice_client, settings):
    settings.PAAS_ACME_DIRECTORY = "https://acme.invalid/directory"
    page = post(alice_client, "certs/auto", {"enabled": "on"})
    assert "Automatic certificates on" in page and App.objects.get(pk=verified.pk).acme
    Domain.objects.filter(hostname=HOST).update(acme_status="failed", acme_error="urn:ietf:params:acme:error:dns: "
                                                "no such host")
    page = text(alice_client.get(PAGE))
    assert HOST in page and "urn:ietf:params:acme:error:dns: no such host" in page
    assert "Disable automatic certificates" in page
    # Self-signed while ACME serves the domain: the action's refusal, shown.
    own = make(HOST, names=[HOST])
    refused = post(alice_client, "certs", {"certificate": pem(own[0]), "key": key_pem(own[1])})
    assert "self-signed" in refused and not Certificate.objects.exists()
    assert "Automatic certificates off" in post(alice_client, "certs/auto", {"enabled": "off"})
    assert not App.objects.get(pk=verified.pk).acme
    assert "enabled must be on or off" in post(alice_client, "certs/auto", {"enabled": "yes"})
    settings.PAAS_ACME_DIRECTORY = ""
    assert "automatic certificates are off on this platform" in post(alice_client, "certs/auto", {"enabled": "on"})
    assert not App.objects.get(pk=verified.pk).acme


def test_redirect_and_hsts_as_the_api_sets_them(alice_app, alice_client):
    assert "HTTPS redirect on" in post(alice_client, "https", {"redirect": "on"})
    assert App.objects.get(pk=alice_app.pk).https_redirect
    assert "Plain HTTP is redirected to HTTPS" in text(alice_client.get(PAGE))
    assert "HSTS max-age=31536000" in post(alice_client, "https/hsts", {"max_age": " 31536000 "})
    for bad in ("abc", "-5", "1e9", "3.5", str(MAX_HSTS_AGE + 1), "９９"):
        assert "HSTS max-age must be a whole number of seconds" in post(alice_client, "https/hsts",
                                                                         {"max_age": bad}), bad
    assert App.objects.get(pk=alice_app.pk).hsts_max_age == 31536000
    assert "redirect must be on or off" in post(alice_client, "https", {"redirect": "true"})
    assert "HSTS off" in post(alice_client, "https/hsts", {"max_age": ""})
    assert "HTTPS redirect off" in post(alice_client, "https", {"redirect": "off"})
    app = App.objects.get(pk=alice_app.pk)
    assert (app.https_redirect, app.hsts_max_age) == (False, None)


def test_another_user_is_refused_every_https_form(verified, bob_app, alice_client, bob_client, settings):
    settings.PAAS_ACME_DIRECTORY = "https://acme.invalid/directory"
    post(alice_client, "certs", upload())
    cert = Certificate.objects.get()
    before = App.objects.values("acme", "https_redirect", "hsts_max_age").get(pk=verified.pk)
    for path, fields in [("certs", upload()), ("certs/remove", {"cert": cert.name}), ("certs/auto", {"enabled": "on"}),
                         ("https", {"redirect": "on"}), ("https/hsts", {"max_age": "600"})]:
        assert "do not have access" in post(bob_client, path, fields), path
    assert list(Certificate.objects.values_list("name", flat=True)) == [cert.name]
    assert App.objects.values("acme", "https_redirect", "hsts_max_age").get(pk=verified.pk) == before
    assert "HTTPS" not in text(bob_client.get(PAGE))
    assert not Event.objects.filter(actor__username="bob", action__regex=r"^(cert\.|app\.https)").exists()


def test_the_section_costs_the_same_queries_whatever_the_certificates(verified, alice_client):
    with_none = count_queries(alice_client)
    for _ in range(3):
        post(alice_client, "certs", upload())
    assert Certificate.objects.count() == 3
    assert count_queries(alice_client) == with_none <= 20


def count_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(PAGE).status_code == 200
    return len(queries)


def test_the_dashboard_shows_certificates_needing_attention_to_their_members_only(verified, bob_app, alice_client,
                                                                                   bob_client):
    assert "Certificates needing attention" not in text(alice_client.get("/console/"))
    post(alice_client, "certs", upload(days=10))
    App.objects.filter(pk=verified.pk).update(acme=True)
    Domain.objects.filter(hostname=HOST).update(acme_status="failed", acme_error="rateLimited: too many orders")
    cert = Certificate.objects.get()
    dashboard = text(alice_client.get("/console/"))
    assert "Certificates needing attention" in dashboard
    assert f"certificate {cert.name} ({HOST}): expires on {cert.not_after:%Y-%m-%d}, in 9 days" in dashboard
    assert f"{HOST}: automatic certificate failed: rateLimited: too many orders" in dashboard
    assert "Certificates needing attention" not in text(bob_client.get("/console/"))
