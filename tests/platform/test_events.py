"""Events belong to the app object (issue 10, item 9): a reused name inherits no audit trail, no logs."""

import pytest

from paas.platform.logs import recent, write_platform_line
from paas.platform.models import App, Build, Event
from tests.platform.accounts import client_for, make_user
from tests.platform.test_api_releases import deploy_build


@pytest.fixture(autouse=True)
def own_data_dir(settings, tmp_path):
    """Destroying an app removes its repository and build cache: those of this test, not the checkout's."""
    settings.PAAS_DATA_DIR = tmp_path


def deploy_code(name: str) -> None:
    """A release with a built slug: enough for paas run to have code to run."""
    release = deploy_build(name, {"web": "gunicorn app:app"})
    Build.objects.filter(pk=release.build_id).update(slug_digest="sha256:" + "0" * 64)


def make_history(client, name="demo"):
    """An app with an audit trail worth stealing: a secret config key, a domain, a collaborator, a run."""
    assert client.post("/api/apps", {"name": name}).status_code == 201
    assert client.patch(f"/api/apps/{name}/config", {"STRIPE_SECRET": "sk_live_123"}).status_code == 200
    assert client.post(f"/api/apps/{name}/domains", {"hostname": "shop.example.com"}).status_code == 201
    deploy_code(name)
    run = client.post(f"/api/apps/{name}/runs", {"command": "psql postgres://admin:hunter2@db/shop"})
    assert run.status_code == 201, run.json_body


def everything_said(rows) -> str:
    return repr(rows)


# Committed for real: log lines are written and deleted once a transaction commits.
@pytest.mark.django_db(transaction=True)
def test_a_reused_name_shows_none_of_the_old_apps_events_or_logs(alice, bob, as_alice, as_bob):
    make_history(as_alice)
    old_id = App.objects.get(name="demo").pk
    assert "hunter2" in everything_said(as_alice.get("/api/apps/demo/events").json_body)
    assert as_alice.get("/api/apps/demo/logs").json_body["lines"]
    from paas.platform.control.autoscaling import idle_key, metrics_key
    from paas.platform.redis_client import get_redis

    get_redis().hset(metrics_key("demo"), "router-1", '{"rps": 9}')
    get_redis().set(idle_key("demo"), "1")
    assert as_alice.delete("/api/apps/demo?confirm=demo").status_code == 200
    # Its router figures and idle clock went with it: a new app of that name scales on its own traffic.
    assert not get_redis().exists(metrics_key("demo"), idle_key("demo"))
    # An instance of the old app still shipping a line after the destroy (the agent stops it a bit later).
    write_platform_line("demo", "late line from the destroyed app")

    assert as_bob.post("/api/apps", {"name": "demo"}).status_code == 201
    new_events = as_bob.get("/api/apps/demo/events").json_body
    assert {e["action"] for e in new_events} == {"app.create", "release.create"}
    assert all(e["app_id"] == App.objects.get(name="demo").pk != old_id for e in new_events)
    listed = as_bob.get("/api/events").json_body + as_bob.get("/api/events?app=demo").json_body
    said = everything_said(listed)
    for secret in ("STRIPE_SECRET", "shop.example.com", "hunter2", "psql", "alice"):
        assert secret not in said
    lines = [row["line"] for row in as_bob.get("/api/apps/demo/logs").json_body["lines"]]
    assert lines and all("destroyed app" not in line and "STRIPE" not in line for line in lines)
    assert all("by bob" in line for line in lines)


def test_admins_keep_destroyed_apps_events_by_name_with_the_apps_id(alice, bob, as_alice, as_bob):
    admin = client_for(make_user("ops", admin=True))
    make_history(as_alice)
    old_id = App.objects.get(name="demo").pk
    as_alice.delete("/api/apps/demo?confirm=demo")
    as_bob.post("/api/apps", {"name": "demo"})
    new_id = App.objects.get(name="demo").pk

    rows = admin.get("/api/events?app=demo&limit=1000").json_body
    assert {e["app_id"] for e in rows} == {old_id, new_id}
    old = [e for e in rows if e["app_id"] == old_id]
    assert all(e["app_destroyed"] for e in old)
    assert {"app.create", "release.create", "domain.add", "run.start", "app.destroy"} <= {e["action"] for e in old}
    assert not any(e["app_destroyed"] for e in rows if e["app_id"] == new_id)
    # The destroyed app's events are not the new app's: apps/demo/events is the live app's only.
    assert {e["app_id"] for e in admin.get("/api/apps/demo/events").json_body} == {new_id}


@pytest.mark.django_db(transaction=True)
def test_run_commands_are_for_the_apps_members_only(alice, bob, as_alice, as_bob):
    admin = client_for(make_user("ops", admin=True))
    make_history(as_alice)
    event = Event.objects.get(action="run.start")
    assert "hunter2" not in event.message  # never in the message, and so never in the log stream
    assert event.data["command"].startswith("psql")

    def run_event(client, path):
        return next(e for e in client.get(path).json_body if e["action"] == "run.start")

    assert run_event(as_alice, "/api/apps/demo/events")["data"]["command"].startswith("psql")
    # Admins see the event, not the command: they are not the app's members.
    assert "command" not in run_event(admin, "/api/apps/demo/events")["data"]
    assert "command" not in run_event(admin, "/api/events")["data"]
    # A collaborator is a member.
    assert as_alice.post("/api/apps/demo/collaborators", {"user": "bob"}).status_code == 201
    assert run_event(as_bob, "/api/apps/demo/events")["data"]["command"].startswith("psql")
    # No log line of any source carries the command.
    assert "hunter2" not in repr(recent("demo", 1500))


def test_run_command_stays_with_its_actor_after_the_app_is_gone(alice, as_alice):
    admin = client_for(make_user("ops", admin=True))
    make_history(as_alice)
    as_alice.delete("/api/apps/demo?confirm=demo")
    mine = next(e for e in as_alice.get("/api/events").json_body if e["action"] == "run.start")
    assert mine["data"]["command"].startswith("psql")
    theirs = next(e for e in admin.get("/api/events").json_body if e["action"] == "run.start")
    assert "command" not in theirs["data"]


def test_a_former_collaborator_no_longer_sees_the_apps_events(alice, bob, as_alice, as_bob):
    make_history(as_alice)
    as_alice.post("/api/apps/demo/collaborators", {"user": "bob"})
    assert any(e["action"] == "run.start" for e in as_bob.get("/api/events").json_body)
    as_alice.delete("/api/apps/demo/collaborators/bob")
    assert not any(e["action"] == "run.start" for e in as_bob.get("/api/events").json_body)


def test_django_admin_shows_the_event_without_the_command(alice, as_alice, root):
    from django.test import Client

    make_history(as_alice)
    event = Event.objects.get(action="run.start")
    browser = Client()
    browser.force_login(root)
    page = browser.get(f"/admin/platform/event/{event.pk}/change/")
    assert page.status_code == 200
    assert "run.1" in page.content.decode() and "hunter2" not in page.content.decode()
    assert "hunter2" not in browser.get("/admin/platform/event/").content.decode()
