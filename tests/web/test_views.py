"""The console's views: login, CSRF, and that a user sees and changes only what the API would let them."""

import re

import pytest
from django.test import Client

from paas.platform.models import APIToken, App, Domain, Event, Formation, Release
from tests.web.browser import PASSWORD

pytestmark = pytest.mark.usefixtures("own_redis_keys")


def text(response) -> str:
    return response.content.decode()


def follow_message(client, response) -> str:
    """The page a post redirected to, with its flash message."""
    assert response.status_code == 302, text(response)
    return text(client.get(response["Location"]))


# --- logging in -----------------------------------------------------------------------------------------------


def test_pages_need_a_login(db):
    for url in ("/console/", "/console/apps/", "/console/apps/x-app/", "/console/events/", "/console/tokens/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/?next=")


def test_login_with_the_right_password_starts_a_session_and_logout_ends_it(alice):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/console/login/")
    token = page.cookies["csrftoken"].value
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD, "next": "/console/apps/",
                                               "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/console/apps/"
    assert client.get("/console/apps/").status_code == 200
    token = client.cookies["csrftoken"].value
    assert client.post("/console/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/console/apps/").status_code == 302


def test_login_refuses_a_wrong_password_and_a_foreign_next(alice):
    client = Client()
    wrong = client.post("/console/login/", {"username": "alice", "password": "nope-nope-nope"})
    assert wrong.status_code == 400
    assert "correct username and password" in text(wrong)
    good = client.post("/console/login/", {"username": "alice", "password": PASSWORD,
                                            "next": "https://evil.example/"})
    assert good["Location"] == "/console/"


def test_login_without_the_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_with_csrf_not_a_link(alice_client):
    assert alice_client.get("/console/logout/").status_code == 405


def test_login_goes_through_the_apis_throttle(alice, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert client.post("/console/login/", {"username": "alice", "password": "wrong-wrong-1"}).status_code == 400
    locked = client.post("/console/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 400
    assert "too many failed logins" in text(locked)
    assert "_auth_user_id" not in client.session


def test_a_nul_in_the_username_is_a_form_error_not_a_crash(alice):
    response = Client().post("/console/login/", {"username": "ali\x00ce", "password": PASSWORD})
    assert response.status_code == 400


# --- what a user sees ------------------------------------------------------------------------------------------


def test_a_user_lists_only_their_apps_and_an_admin_all(alice_app, bob_app, alice_client, admin_console):
    mine = text(alice_client.get("/console/apps/"))
    assert "alice-app" in mine and "bob-app" not in mine
    everything = text(admin_console.get("/console/apps/"))
    assert "alice-app" in everything and "bob-app" in everything
    dashboard = text(alice_client.get("/console/"))
    assert "bob-app" not in dashboard and "Platform health" not in dashboard and "host-one" not in dashboard


def test_the_dashboard_shows_recent_deploys_and_failed_builds(alice_app, alice, alice_client):
    from paas.platform.models import Build

    failed = Build.objects.create(app=alice_app, commit="b" * 40, status=Build.FAILED, error="no buildpack detected")
    dashboard = text(alice_client.get("/console/"))
    assert '<a href="/console/apps/alice-app/">alice-app</a></td><td>v2 Deploy aaaaaaa</td>' in dashboard
    assert "<td>alice</td>" in dashboard
    assert f'href="/console/apps/alice-app/builds/{failed.uuid}/">alice-app {str(failed.uuid)[:8]}</a>' in dashboard
    assert "no buildpack detected" in dashboard


def test_apps_list_searches_and_filters(alice_app, bob_app, admin_console):
    found = text(admin_console.get("/console/apps/?q=bob"))
    assert "bob-app" in found and "alice-app" not in found
    by_owner = text(admin_console.get("/console/apps/?owner=alice"))
    assert "alice-app" in by_owner and "bob-app" not in by_owner
    App.objects.filter(name="bob-app").update(maintenance=True)
    by_state = text(admin_console.get("/console/apps/?state=maintenance"))
    assert "bob-app" in by_state and "alice-app" not in by_state


def test_app_page_shows_state_but_masks_config_values(alice_app, alice_client):
    page = text(alice_client.get("/console/apps/alice-app/"))
    assert "SECRET_KEY" in page and "s3cr3t-value" not in page
    assert "http://alice-app.localhost:8080/" in page and "web.1" in page
    revealed = alice_client.get("/console/apps/alice-app/config.json")
    assert revealed.json() == {"SECRET_KEY": "s3cr3t-value-of-alice-app"}
    assert revealed["Cache-Control"] == "no-store"


def test_another_users_app_is_refused_like_the_api_does(alice_app, bob_app, alice_client):
    assert alice_client.get("/console/apps/bob-app/").status_code == 403
    assert alice_client.get("/console/apps/bob-app/config.json").status_code == 403
    assert alice_client.get("/console/apps/bob-app/logs/").status_code == 403
    assert alice_client.get("/console/apps/bob-app/logs/tail.json").status_code == 403
    build = App.objects.get(name="bob-app").builds.first()
    assert alice_client.get(f"/console/apps/bob-app/builds/{build.uuid}/").status_code == 403
    assert alice_client.get("/console/apps/no-such-app/").status_code == 404
    assert alice_client.get("/console/apps/..%2Fetc/").status_code == 404


def test_another_users_app_cannot_be_changed(alice_app, bob_app, alice_client):
    bob_app = App.objects.get(name="bob-app")
    releases = Release.objects.filter(app=bob_app).count()
    posts = [("rollback", {"version": "1"}), ("config", {"key": "X", "value": "1"}),
             ("config/unset", {"key": "SECRET_KEY"}), ("scale", {"type": "web", "quantity": "5", "size": "small"}),
             ("maintenance", {"enabled": "on"}), ("domains", {"hostname": "www.example.com"}),
             ("collaborators", {"user": "alice"})]
    for path, data in posts:
        response = alice_client.post(f"/console/apps/bob-app/{path}", data)
        assert response.status_code == 302
        assert "do not have access" in follow_message(alice_client, response), path
    bob_app.refresh_from_db()
    assert Release.objects.filter(app=bob_app).count() == releases
    assert Formation.objects.get(app=bob_app).quantity == 1
    assert not bob_app.maintenance and not Domain.objects.exists() and not bob_app.collaborators.exists()


def test_admin_pages_are_refused_to_users(alice_client):
    for url in ("/console/hosts/", "/console/users/", "/console/logs/"):
        response = alice_client.get(url)
        assert response.status_code == 403, url
        assert "for platform admins" in text(response)
    response = alice_client.post("/console/users/create", {"username": "mallory", "password": "x" * 12})
    assert "for platform admins" in follow_message(alice_client, response)


def test_a_collaborator_works_on_the_app_but_cannot_change_who_has_access(alice_app, bob, bob_client,
                                                                          alice_client):
    response = alice_client.post("/console/apps/alice-app/collaborators", {"user": "bob"})
    assert "bob can now work on alice-app" in follow_message(alice_client, response)
    assert bob_client.get("/console/apps/alice-app/").status_code == 200
    refused = bob_client.post("/console/apps/alice-app/collaborators/remove", {"user": "bob"})
    assert "only the owner" in follow_message(bob_client, refused)


# --- changing an app -------------------------------------------------------------------------------------------


def test_config_edit_is_a_new_release(alice_app, alice_client):
    before = alice_app.releases.count()
    response = alice_client.post("/console/apps/alice-app/config", {"key": "PEM", "value": "line1\r\nline2",
                                                                    "next": "/console/apps/alice-app/"})
    assert f"v{before + 1}: Set PEM config var" in follow_message(alice_client, response)
    assert alice_app.releases.first().config.values["PEM"] == "line1\nline2"
    unset = alice_client.post("/console/apps/alice-app/config/unset", {"key": "PEM"})
    assert "Remove PEM config var" in follow_message(alice_client, unset)


def test_bad_config_input_names_the_problem_and_writes_nothing(alice_app, alice_client):
    before = alice_app.releases.count()
    for key, value in (("1BAD", "x"), ("GOOD", "nul\x00here"), ("", "x")):
        response = alice_client.post("/console/apps/alice-app/config", {"key": key, "value": value})
        page = follow_message(alice_client, response)
        assert "class=\"error\"" in page
    assert alice_app.releases.count() == before


def test_rollback_makes_a_new_release_with_the_old_build(alice_app, alice_client):
    response = alice_client.post("/console/apps/alice-app/rollback", {"version": "2"})
    assert "Rolled back: v4 (Rollback to v2)" in follow_message(alice_client, response)
    latest = alice_app.releases.first()
    assert latest.rollback_of.version == 2
    bad = alice_client.post("/console/apps/alice-app/rollback", {"version": "v99"})
    assert "has no release v99" in follow_message(alice_client, bad)


def test_scale_uses_the_formation_rules(alice_app, alice_client):
    response = alice_client.post("/console/apps/alice-app/scale", {"type": "web", "quantity": "3", "size": "medium"})
    assert "web=3:medium" in follow_message(alice_client, response)
    assert Formation.objects.get(app=alice_app, process_type="web").quantity == 3
    for data in ({"type": "web", "quantity": "-1"}, {"type": "web", "quantity": "2", "size": "huge"},
                 {"type": "worker", "quantity": "1"}, {"type": "web", "quantity": "99999"}):
        refused = alice_client.post("/console/apps/alice-app/scale", data)
        assert "class=\"error\"" in follow_message(alice_client, refused), data
    assert Formation.objects.get(app=alice_app, process_type="web").quantity == 3


def test_maintenance_domains_and_build_output(alice_app, alice_client):
    follow_message(alice_client, alice_client.post("/console/apps/alice-app/maintenance", {"enabled": "on"}))
    alice_app.refresh_from_db()
    assert alice_app.maintenance
    page = follow_message(alice_client, alice_client.post("/console/apps/alice-app/domains",
                                                          {"hostname": "www.example.com"}))
    assert "_paas-verify.www.example.com" in page
    refused = alice_client.post("/console/apps/alice-app/domains", {"hostname": "x.localhost"})
    assert "platform&#x27;s own domain" in follow_message(alice_client, refused)
    build = alice_app.builds.first()
    output = alice_client.get(f"/console/apps/alice-app/builds/{str(build.uuid)[:8]}/output.json?from=3")
    assert output.json() == {"status": "succeeded", "output": "--> built\n", "next": len(build.output)}


def test_a_post_never_redirects_off_the_console(alice_app, alice_client):
    response = alice_client.post("/console/apps/alice-app/maintenance", {"enabled": "on",
                                                                         "next": "https://evil.example/"})
    assert response["Location"] == "/console/apps/alice-app/"


def test_control_characters_in_a_query_are_refused(alice_client):
    response = alice_client.get("/console/apps/?q=a%00b")
    assert response.status_code == 400


# --- accounts and the audit log --------------------------------------------------------------------------------


def test_tokens_show_the_secret_once_and_only_their_owner_revokes(bob, alice_client, bob_client):
    created = bob_client.post("/console/tokens/create", {"description": "ci", "scopes": ["read"], "days": "7"})
    assert created.status_code == 200 and "paas_" in text(created)
    token = APIToken.objects.get(user=bob)
    assert token.scopes == ["read"]
    secret = re.search(r"paas_[A-Za-z0-9_-]{16,}", text(created)).group()
    assert secret not in text(bob_client.get("/console/tokens/"))  # shown once (the list shows a prefix)
    refused = alice_client.post("/console/tokens/revoke", {"token": str(token.pk)})
    assert "only revoke your own" in follow_message(alice_client, refused)
    token.refresh_from_db()
    assert token.revoked_at is None
    follow_message(bob_client, bob_client.post("/console/tokens/revoke", {"token": str(token.pk)}))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_teams_follow_the_api_rules(alice, bob, alice_client, bob_client):
    follow_message(alice_client, alice_client.post("/console/teams/create", {"name": "core"}))
    assert "core" not in text(bob_client.get("/console/teams/"))
    refused = bob_client.post("/console/teams/core/add", {"user": "bob"})
    assert "not a member of team" in follow_message(bob_client, refused)
    added = alice_client.post("/console/teams/core/add", {"user": "bob", "role": "member"})
    assert "Added bob to core as member" in follow_message(alice_client, added)
    assert "core" in text(bob_client.get("/console/teams/"))


def test_audit_log_shows_a_user_only_their_events_and_filters(alice_app, bob_app, alice_client, admin_console):
    Event.objects.create(app=App.objects.get(name="bob-app"), app_name="bob-app", actor_name="bob",
                         action="run.start", message="ran a command", data={"command": "echo hidden-secret"})
    mine = text(alice_client.get("/console/events/"))
    assert "alice-app" in mine and "bob-app" not in mine
    admin = text(admin_console.get("/console/events/?app=bob-app"))
    assert "bob-app" in admin and "alice-app" not in admin
    assert "ran a command" in admin and "hidden-secret" not in admin  # a run's command is for the app's members
    assert "release.create" in text(admin_console.get("/console/events/?action=release.&who=alice"))


def test_admin_creates_users_with_the_password_rules(admin_console):
    weak = admin_console.post("/console/users/create", {"username": "carol", "password": "12345"})
    assert "too short" in follow_message(admin_console, weak)
    good = admin_console.post("/console/users/create", {"username": "carol", "password": "long-enough-pass-9"})
    assert "Created user carol" in follow_message(admin_console, good)


def test_admin_sees_hosts_and_platform_health(alice_app, admin_console):
    dashboard = text(admin_console.get("/console/"))
    assert "Platform health" in dashboard and "PostgreSQL" in dashboard and "host-one" in dashboard
    hosts = text(admin_console.get("/console/hosts/?host=host-one"))
    assert "256 / 4096 MB" in hosts and "alice-app" in hosts


# --- query budget (bench/console.py measures it at scale) ------------------------------------------------------


@pytest.mark.parametrize("url", ["/console/", "/console/apps/", "/console/apps/alice-app/", "/console/hosts/",
                                 "/console/events/", "/console/teams/", "/console/tokens/", "/console/users/",
                                 "/console/apps/alice-app/logs/"])
def test_every_page_stays_within_the_query_budget(alice_app, bob_app, admin_console, url,
                                                  django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        assert admin_console.get(url).status_code == 200


# --- the browser terminal --------------------------------------------------------------------------------------


def test_terminal_runs_only_on_apps_the_user_may_use(alice_app, bob_app, alice_client):
    from paas.platform.models import Instance

    refused = alice_client.post("/console/apps/bob-app/runs", {"command": "env"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert alice_client.get("/console/apps/bob-app/run/").status_code == 403
    bad = alice_client.post("/console/apps/alice-app/runs", {"command": "ls\x00"}, content_type="application/json")
    assert bad.status_code == 422
    assert not Instance.objects.filter(kind=Instance.ONEOFF).exists()
    started = alice_client.post("/console/apps/alice-app/runs", {"command": "env"}, content_type="application/json")
    assert started.status_code == 201 and started.json()["attach"] == "tty"
    name = started.json()["name"]
    assert alice_client.get(f"/console/apps/bob-app/runs/{name}/output").status_code == 403
    detached_input = alice_client.post(f"/console/apps/alice-app/runs/{name}/input", {"signal": "KILL"},
                                       content_type="application/json")
    assert detached_input.status_code == 422
    for size in ([0, 80], [24], ["24", "80"], [24, 10001]):
        bad_size = alice_client.post(f"/console/apps/alice-app/runs/{name}/input", {"resize": size},
                                     content_type="application/json")
        assert bad_size.status_code == 422, size
    resized = alice_client.post(f"/console/apps/alice-app/runs/{name}/input", {"resize": [30, 100]},
                                content_type="application/json")
    assert resized.json() == {"sent": ["resize"]}
    assert alice_client.post(f"/console/apps/bob-app/runs/{name}/input", {"data": "AA=="},
                             content_type="application/json").status_code == 403
    assert Client().get(f"/console/apps/alice-app/runs/{name}/output").status_code == 401


def test_terminal_posts_need_the_csrf_token(alice_app, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/console/apps/alice-app/runs", {"command": "env"}, content_type="application/json")
    assert response.status_code == 403


def test_app_page_shows_autoscaling(alice_app, alice_client):
    from paas.platform.models import Autoscale

    Autoscale.objects.create(app=alice_app, process_type="web", min_quantity=1, max_quantity=4, target_rps=50)
    page = text(alice_client.get("/console/apps/alice-app/"))
    assert "1 to 4 instances" in page and "50.0 requests/s per instance" in page


def test_the_log_tail_shows_router_lines_with_their_implied_fields(alice_app, alice_client):
    from paas.platform.logs import stream_key
    from paas.platform.redis_client import get_redis
    key = stream_key("alice-app")
    # As the router writes its lines (logcenter/schema.py ROUTER_FIELDS): app, process and stream are implied.
    first = get_redis().xadd(key, {"ts": "2026-12-07T10:00:00.000001Z", "release": "v1", "source": "router",
                                   "line": "at=info method=GET"}).decode()
    get_redis().xadd(key, {"ts": "2026-12-07T10:00:00.000002Z", "release": "v1", "source": "router",
                           "line": "at=info method=HEAD"})
    for path in ("/console/apps/alice-app/logs/tail.json", f"/console/apps/alice-app/logs/tail.json?after={first}"):
        row = alice_client.get(path).json()["lines"][-1]
        assert (row["app"], row["process"], row["source"], row["line"]) == (
            "alice-app", "router", "router", "at=info method=HEAD")
