import pytest

from paas.platform.models import App, Event, Release


def test_create_app_makes_release_v1_and_an_event(as_alice, alice):
    response = as_alice.post("/api/apps", {"name": "demo"})
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert body["name"] == "demo"
    assert body["owner"] == "alice"
    assert body["release"] == 1
    assert body["web_url"] == "http://demo.localhost:8080/"
    assert body["git_url"].endswith("/demo.git")
    assert Release.objects.get(app__name="demo").summary == "Initial release"
    assert Event.objects.filter(app_name="demo", action="app.create", actor=alice).exists()


@pytest.mark.parametrize("name", ["..", "a/b", "-rf", "Demo", "١٢٣abc", "a" * 64, "", "ab"])
def test_bad_app_names_get_422_and_nothing_is_written(as_alice, name):
    response = as_alice.post("/api/apps", {"name": name})
    assert response.status_code == 422
    assert response.json_body["error"] == "invalid"
    assert "app name" in response.json_body["message"]
    assert App.objects.count() == 0
    assert Release.objects.count() == 0


def test_duplicate_name_is_a_conflict(as_alice, as_bob):
    assert as_alice.post("/api/apps", {"name": "demo"}).status_code == 201
    response = as_bob.post("/api/apps", {"name": "demo"})
    assert response.status_code == 409
    assert "already exists" in response.json_body["message"]
    assert App.objects.count() == 1


def test_malformed_json_is_a_400_in_json(as_alice):
    response = as_alice.post("/api/apps", raw=b"{nope")
    assert response.status_code == 400
    assert "not valid JSON" in response.json_body["message"]


def test_non_object_json_is_refused(as_alice):
    response = as_alice.post("/api/apps", raw=b"[1,2]")
    assert response.status_code == 400


def test_unknown_endpoint_and_wrong_method_answer_json(as_alice):
    missing = as_alice.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json_body["error"] == "not_found"
    wrong = as_alice.call("put", "/api/apps")
    assert wrong.status_code == 405 and "GET" in wrong.json_body["message"]


def test_users_see_only_their_apps_and_admins_see_all(as_alice, as_bob, as_admin):
    as_alice.post("/api/apps", {"name": "alice-app"})
    as_bob.post("/api/apps", {"name": "bob-app"})
    assert [a["name"] for a in as_alice.get("/api/apps").json_body] == ["alice-app"]
    assert [a["name"] for a in as_bob.get("/api/apps").json_body] == ["bob-app"]
    assert [a["name"] for a in as_admin.get("/api/apps").json_body] == ["alice-app", "bob-app"]


def test_another_users_app_cannot_be_read_or_changed(as_alice, as_bob):
    as_alice.post("/api/apps", {"name": "private"})
    for response in (
        as_bob.get("/api/apps/private"),
        as_bob.get("/api/apps/private/config"),
        as_bob.patch("/api/apps/private/config", {"A": "1"}),
        as_bob.get("/api/apps/private/releases"),
        as_bob.post("/api/apps/private/rollback", {}),
        as_bob.patch("/api/apps/private/formation", {"web": {"quantity": 1}}),
        as_bob.post("/api/apps/private/domains", {"hostname": "x.example.com"}),
        as_bob.delete("/api/apps/private?confirm=private"),
    ):
        assert response.status_code == 403, response.json_body
        assert "access" in response.json_body["message"]
    assert Release.objects.filter(app__name="private").count() == 1


def test_unknown_app_is_404(as_alice):
    response = as_alice.get("/api/apps/ghost")
    assert response.status_code == 404
    assert "ghost" in response.json_body["message"]


def test_destroy_needs_confirmation_and_owner(as_alice, as_bob, bob):
    as_alice.post("/api/apps", {"name": "doomed"})
    as_alice.post("/api/apps/doomed/collaborators", {"user": "bob"})
    refused = as_alice.delete("/api/apps/doomed")
    assert refused.status_code == 422 and "confirm" in refused.json_body["message"]
    wrong = as_alice.delete("/api/apps/doomed?confirm=other")
    assert wrong.status_code == 422
    collaborator = as_bob.delete("/api/apps/doomed?confirm=doomed")
    assert collaborator.status_code == 403
    assert App.objects.filter(name="doomed").exists()
    assert as_alice.delete("/api/apps/doomed?confirm=doomed").status_code == 200
    assert not App.objects.filter(name="doomed").exists()
    assert Event.objects.filter(app_name="doomed", action="app.destroy").exists()


def test_collaborators_can_work_on_the_app(as_alice, as_bob):
    as_alice.post("/api/apps", {"name": "shared"})
    assert as_alice.post("/api/apps/shared/collaborators", {"user": "bob"}).status_code == 201
    assert as_bob.patch("/api/apps/shared/config", {"X": "1"}).status_code == 200
    users = [row["user"] for row in as_bob.get("/api/apps/shared/collaborators").json_body]
    assert users == ["alice", "bob"]
    assert as_bob.post("/api/apps/shared/collaborators", {"user": "alice"}).status_code == 403
    assert as_alice.delete("/api/apps/shared/collaborators/bob").status_code == 200
    assert as_bob.get("/api/apps/shared").status_code == 403


def test_collaborator_errors(as_alice, bob):
    as_alice.post("/api/apps", {"name": "shared"})
    assert as_alice.post("/api/apps/shared/collaborators", {"user": "nobody"}).status_code == 404
    assert as_alice.post("/api/apps/shared/collaborators", {"user": "alice"}).status_code == 409
    assert as_alice.post("/api/apps/shared/collaborators", {"user": "bob"}).status_code == 201
    assert as_alice.post("/api/apps/shared/collaborators", {"user": "bob@example.com"}).status_code == 409


def test_team_members_share_team_apps(as_alice, as_bob, bob):
    assert as_alice.post("/api/teams", {"name": "core"}).status_code == 201
    assert as_alice.post("/api/apps", {"name": "team-app", "team": "core"}).status_code == 201
    assert as_bob.get("/api/apps/team-app").status_code == 403
    assert as_bob.post("/api/apps", {"name": "sneaky", "team": "core"}).status_code == 403
    assert as_alice.post("/api/teams/core/members", {"user": "bob"}).status_code == 201
    assert as_bob.get("/api/apps/team-app").status_code == 200
    assert as_bob.post("/api/teams/core/members", {"user": "root"}).status_code == 403
    last_admin = as_alice.delete("/api/teams/core/members/alice")
    assert last_admin.status_code == 409


def test_health_check_path_is_checked(as_alice):
    as_alice.post("/api/apps", {"name": "checked"})
    ok = as_alice.call("put", "/api/apps/checked/healthcheck", {"path": "/health?deep=1"})
    assert ok.status_code == 200 and ok.json_body["health_check_path"] == "/health?deep=1"
    for bad in ("health", "/a b", "/\u00e9", 5, "/" + "x" * 300):
        assert as_alice.call("put", "/api/apps/checked/healthcheck", {"path": bad}).status_code == 422, bad
    off = as_alice.call("put", "/api/apps/checked/healthcheck", {"path": ""})
    assert off.json_body["health_check_path"] is None


def test_stack_can_be_chosen_among_the_available_ones(as_alice, monkeypatch):
    from paas.platform.actions import apps

    monkeypatch.setattr(apps, "available_stacks", lambda: {"host", "trixie"})
    as_alice.post("/api/apps", {"name": "stacked"})
    assert as_alice.call("put", "/api/apps/stacked/stack", {"stack": "trixie"}).json_body["stack"] == "trixie"
    unknown = as_alice.call("put", "/api/apps/stacked/stack", {"stack": "jammy"})
    assert unknown.status_code == 422 and "host, trixie" in unknown.json_body["message"]
    assert as_alice.call("put", "/api/apps/stacked/stack", {"stack": "../x"}).status_code == 422
    assert as_alice.call("put", "/api/apps/stacked/stack", {}).status_code == 422


def test_the_host_stack_is_always_listed_with_its_languages(as_alice):
    listed = {s["name"]: s for s in as_alice.get("/api/stacks").json_body}
    assert "host" in listed
    # This machine is Debian: its python3.X and nodejs packages are the host stack's versions.
    assert listed["host"]["languages"]["python"] and all(v.startswith("3.") for v in listed["host"]["languages"]["python"])


def test_new_apps_get_the_default_stack_once_it_is_built_and_keep_theirs(as_alice, monkeypatch):
    from paas.platform.actions import apps

    monkeypatch.setattr(apps, "available_stacks", lambda: {"host"})
    assert as_alice.post("/api/apps", {"name": "early"}).json_body["stack"] == "host"
    monkeypatch.setattr(apps, "available_stacks", lambda: {"host", "forky"})
    assert as_alice.post("/api/apps", {"name": "later"}).json_body["stack"] == "forky"
    assert as_alice.get("/api/apps/early").json_body["stack"] == "host"
    assert [s["name"] for s in as_alice.get("/api/stacks").json_body if s["default"]] == ["forky"]


def test_git_url_follows_the_origin_the_caller_reached(as_alice, settings):
    """After an HTTPS login through the router (paas.<base>), pushes go over that same TLS origin; a plain
    loopback caller gets the git receiver's port; an operator's PAAS_PUBLIC_GIT_URL wins over both."""
    as_alice.post("/api/apps", {"name": "demo"})
    assert as_alice.get("/api/apps/demo").json_body["git_url"] == f"{settings.PAAS_GIT_URL}/demo.git"
    as_alice.headers.update(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="paas.localhost:8443")
    assert as_alice.get("/api/apps/demo").json_body["git_url"] == "https://paas.localhost:8443/demo.git"
    assert as_alice.get("/api/apps").json_body[0]["git_url"] == "https://paas.localhost:8443/demo.git"
    assert as_alice.get("/api/account").json_body["git_url"] == "https://paas.localhost:8443"
    settings.PAAS_PUBLIC_GIT_URL = settings.PAAS_GIT_URL = "https://git.example.test"
    assert as_alice.get("/api/apps/demo").json_body["git_url"] == "https://git.example.test/demo.git"
