import json
from datetime import timedelta

from django.utils import timezone

from paas.platform.models import APIToken, App
from tests.platform.accounts import ApiClient, client_for


def test_no_token_is_401_with_a_hint(db):
    response = ApiClient(None).get("/api/apps")
    assert response.status_code == 401
    assert "paas login" in response.json_body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_401(db):
    assert ApiClient("paas_not-a-real-token").get("/api/apps").status_code == 401
    assert ApiClient("garbage").get("/api/apps").status_code == 401


def test_login_issues_a_token_and_stores_only_its_hash(alice):
    response = ApiClient(None).post("/api/login", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 201
    secret = response.json_body["token"]
    assert secret.startswith("paas_")
    assert not APIToken.objects.filter(digest=secret).exists()
    assert APIToken.objects.filter(digest=APIToken.hash(secret)).exists()
    assert ApiClient(secret).get("/api/account").json_body["username"] == "alice"


def test_login_with_wrong_password(alice):
    response = ApiClient(None).post("/api/login", {"username": "alice", "password": "nope"})
    assert response.status_code == 401
    assert APIToken.objects.count() == 0


def test_revoked_token_stops_working(alice):
    client = client_for(alice)
    token = APIToken.objects.get(user=alice)
    assert client.delete(f"/api/tokens/{token.pk}").status_code == 200
    response = client.get("/api/apps")
    assert response.status_code == 401 and "revoked" in response.json_body["message"]


def test_expired_token_stops_working(alice):
    client = client_for(alice)
    APIToken.objects.filter(user=alice).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.post("/api/apps", {"name": "late"})
    assert response.status_code == 401 and "expired" in response.json_body["message"]
    assert not App.objects.exists()


def test_read_scope_cannot_write(alice):
    reader = client_for(alice, scopes=["read"])
    assert reader.get("/api/apps").status_code == 200
    response = reader.post("/api/apps", {"name": "nope"})
    assert response.status_code == 403 and "write" in response.json_body["message"]


def test_token_management(as_alice, alice, bob):
    created = as_alice.post("/api/tokens", {"description": "ci", "scopes": ["read"], "expires_in_days": 7})
    assert created.status_code == 201 and created.json_body["token"].startswith("paas_")
    listing = as_alice.get("/api/tokens").json_body
    assert {t["description"] for t in listing} >= {"ci"}
    assert all("token" not in t for t in listing)
    assert as_alice.post("/api/tokens", {"scopes": ["root"]}).status_code == 422
    assert as_alice.post("/api/tokens", {"expires_in_days": 0}).status_code == 422
    bobs = APIToken.objects.create(user=bob, prefix="x", digest="y", scopes=["read"])
    assert as_alice.delete(f"/api/tokens/{bobs.pk}").status_code == 403


def test_only_admins_create_users(as_alice, as_admin):
    refused = as_alice.post("/api/users", {"username": "eve", "password": "long-enough-pw"})
    assert refused.status_code == 403
    created = as_admin.post("/api/users", {"username": "eve", "password": "long-enough-pw"})
    assert created.status_code == 201
    assert as_admin.post("/api/users", {"username": "eve", "password": "long-enough-pw"}).status_code == 409
    assert as_admin.post("/api/users", {"username": "short", "password": "x"}).status_code == 422


def test_events_are_scoped_to_what_you_can_see(as_alice, as_bob, as_admin):
    as_alice.post("/api/apps", {"name": "alpha"})
    as_bob.post("/api/apps", {"name": "bravo"})
    alice_apps = {e["app"] for e in as_alice.get("/api/events").json_body}
    assert "alpha" in alice_apps and "bravo" not in alice_apps
    admin_apps = {e["app"] for e in as_admin.get("/api/events").json_body}
    assert {"alpha", "bravo"} <= admin_apps
    assert as_alice.get("/api/apps/alpha/events").json_body[0]["action"] == "release.create"
    assert as_alice.get("/api/events?limit=0").status_code == 400


def test_domains(as_alice, as_bob):
    as_alice.post("/api/apps", {"name": "site"})
    as_bob.post("/api/apps", {"name": "other"})
    assert as_alice.post("/api/apps/site/domains", {"hostname": "WWW.Example.com"}).status_code == 201
    assert as_alice.post("/api/apps/site/domains", {"hostname": "www.example.com"}).status_code == 409
    # A pending claim does not block another app: the first to verify wins (tests/security/test_domains.py).
    assert as_bob.post("/api/apps/other/domains", {"hostname": "www.example.com"}).status_code == 201
    assert as_alice.post("/api/apps/site/domains", {"hostname": "not a host"}).status_code == 422
    assert as_alice.post("/api/apps/site/domains", {"hostname": "x.site.localhost"}).status_code == 422
    assert [d["hostname"] for d in as_alice.get("/api/apps/site/domains").json_body] == ["www.example.com"]
    assert as_alice.delete("/api/apps/site/domains/www.example.com").status_code == 200
    assert as_alice.delete("/api/apps/site/domains/www.example.com").status_code == 404


def test_openapi_lists_every_endpoint(db):
    from paas.platform.api.urls import ENDPOINTS

    document = ApiClient(None).get("/api/openapi.json").json_body
    assert document["openapi"].startswith("3.")
    assert len(document["paths"]) == len(ENDPOINTS)
    assert "patch" in document["paths"]["/api/apps/{app}/config"]


def test_a_crash_is_json_not_a_traceback(as_alice, monkeypatch):
    from paas.platform.actions import access

    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(access, "visible_apps", explode)
    response = as_alice.get("/api/apps")
    assert response.status_code == 500
    assert response.json_body["error"] == "internal_error"
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_images_are_served_to_admins_only(as_alice, as_admin, tmp_path, monkeypatch):
    import io
    import tarfile

    from paas.runtime import images

    monkeypatch.setenv("PAAS_RUNTIME_DIR", str(tmp_path / "runtime"))
    slug = tmp_path / "slug.tar"
    with tarfile.open(slug, "w") as tar:
        info = tarfile.TarInfo("Procfile")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"web:"))
    image = images.put(slug)
    assert as_alice.get(f"/api/images/{image.digest}").status_code == 403
    response = as_admin.client.get(f"/api/images/{image.digest}", **as_admin.headers)
    assert response.status_code == 200 and b"".join(response.streaming_content) == slug.read_bytes()
    assert as_admin.get("/api/images/sha256:" + "0" * 64).status_code == 404
    assert as_admin.get("/api/images/nonsense").status_code == 404


def _login(password, username="alice", address="192.0.2.1"):
    return ApiClient(None).client.post("/api/login", json.dumps({"username": username, "password": password}),
                                       content_type="application/json", REMOTE_ADDR=address)


def test_repeated_failed_logins_lock_the_account_for_a_while(alice, bob, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert _login("nope").status_code == 401
    locked = _login("correct-horse-battery")  # even the right password: a locked account confirms no guess
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= settings.PAAS_LOGIN_WINDOW_S
    assert "too many failed logins" in locked.json()["message"]
    assert APIToken.objects.count() == 0
    assert _login("correct-horse-battery", username="bob").status_code == 201  # others log in from there


def test_a_successful_login_clears_the_count(alice, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        assert _login("nope").status_code == 401
    assert _login("correct-horse-battery").status_code == 201
    for _ in range(2):
        assert _login("nope").status_code == 401
    assert _login("correct-horse-battery").status_code == 201


def test_one_address_guessing_many_accounts_is_stopped(db, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 2  # and so 10 from one address
    for number in range(10):
        assert _login("nope", username=f"nobody{number}").status_code == 401
    assert _login("nope", username="somebody-else").status_code == 429
    assert _login("nope", username="somebody-else", address="192.0.2.2").status_code == 401


def test_wait_is_the_longest_locked_window():
    from paas.platform.actions.login_throttle import wait_seconds

    assert wait_seconds([(2, 100), (3, 50)], [3, 15]) == 0
    assert wait_seconds([(3, 100), (3, 50)], [3, 15]) == 100
    assert wait_seconds([(3, 100), (15, 700)], [3, 15]) == 700
    assert wait_seconds([(3, -1), (0, -2)], [3, 15]) == 1  # a key without expiry still locks
