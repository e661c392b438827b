"""Per-app egress: GET/PUT /api/apps/<app>/egress, its event, and paas egress / egress:deny / egress:allow."""

import pytest

from paas.platform.models import App, Event
from tests.platform.test_cli import cli, cli_login_token  # noqa: F401  (the live-server CLI fixture)


def put(client, app, body=None, raw=None):
    return client.call("put", f"/api/apps/{app}/egress", body, raw)


def test_egress_is_allowed_by_default_and_switches_with_an_event(as_alice):
    assert as_alice.post("/api/apps", {"name": "outbound"}).status_code == 201
    assert as_alice.get("/api/apps/outbound/egress").json_body == {"app": "outbound", "egress": "allowed"}
    denied = put(as_alice, "outbound", {"allowed": False})
    assert denied.status_code == 200 and denied.json_body == {"app": "outbound", "egress": "denied"}
    assert App.objects.get(name="outbound").egress is False
    assert as_alice.get("/api/apps/outbound").json_body["egress"] == "denied"
    # The same value again changes nothing and records nothing.
    put(as_alice, "outbound", {"allowed": False})
    events = list(Event.objects.filter(app__name="outbound", action="app.egress"))
    assert [e.message for e in events] == ["egress denied"]
    assert put(as_alice, "outbound", {"allowed": True}).json_body["egress"] == "allowed"
    assert Event.objects.filter(app__name="outbound", action="app.egress").count() == 2


@pytest.mark.parametrize("body", [{}, {"allowed": "no"}, {"allowed": 0}, {"allowed": None}, {"enabled": False}])
def test_bad_egress_input_is_a_4xx_and_nothing_changes(as_alice, body):
    as_alice.post("/api/apps", {"name": "outbound"})
    response = put(as_alice, "outbound", body)
    assert response.status_code in (400, 422) and "allowed" in response.json_body["message"]
    assert App.objects.get(name="outbound").egress is True
    assert not Event.objects.filter(action="app.egress").exists()


def test_only_the_owner_or_an_admin_switches_egress(as_alice, as_bob, as_admin):
    as_alice.post("/api/apps", {"name": "outbound"})
    assert put(as_bob, "outbound", {"allowed": False}).status_code in (403, 404)
    as_alice.post("/api/apps/outbound/collaborators", {"user": "bob"})
    # A collaborator deploys code but does not lift the owner's egress policy.
    assert as_bob.get("/api/apps/outbound/egress").status_code == 200
    assert put(as_bob, "outbound", {"allowed": False}).status_code == 403
    assert App.objects.get(name="outbound").egress is True
    assert put(as_admin, "outbound", {"allowed": False}).status_code == 200


def test_the_agent_is_told_what_the_app_wants(as_alice, alice):
    """DjangoControlPlane.desired carries the app's egress to the agent (platform/hostagent.py)."""
    from paas.platform.actions.releases import create_release
    from paas.platform.models import Build, Host, Instance

    as_alice.post("/api/apps", {"name": "outbound"})
    put(as_alice, "outbound", {"allowed": False})
    app = App.objects.get(name="outbound")
    build = Build.objects.create(app=app, slug_digest="sha256:" + "0" * 64, process_types={"web": "run"},
                                 status="succeeded", stack="host")
    release = create_release(app, user=alice, build=build, config=app.configs.latest("created_at"), summary="b")
    host = Host.objects.create(name="egress-host", address="127.0.0.1", memory_mb=1024, cpus=1)
    Instance.objects.create(app=app, release=release, host=host, name="outbound.web.1", process_type="web",
                            number=1, size="small", memory_mb=256, cpus=0.25, desired_state=Instance.RUNNING)
    from paas.platform.hostagent import DjangoControlPlane
    from paas.runtime.agent import HostInfo

    plane = DjangoControlPlane.__new__(DjangoControlPlane)
    plane.Host, plane.Instance = Host, Instance
    [desired] = plane.desired(HostInfo("egress-host", "127.0.0.1", 1024, 1))
    assert desired.egress is False


def test_cli_shows_and_switches_egress(cli):  # noqa: F811
    cli_login_token(cli)
    cli.run("apps:create", "outward", "--no-remote")
    assert "Egress of outward is allowed" in cli.run("egress", "-a", "outward").stdout
    assert "reach nothing outside, DNS included" in cli.run("egress:deny", "-a", "outward").stdout
    assert cli.json("egress", "-a", "outward") == {"app": "outward", "egress": "denied"}
    assert cli.json("egress:allow", "-a", "outward")["egress"] == "allowed"
    missing = cli.run("egress:deny", "-a", "nowhere", ok=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
