"""Cordon, uncordon and drain (platform/actions/hosts.py), through the API and the console, and what they do
to placement, routing and the rolling replacement of the drained host's instances."""

import pytest

from paas.platform.actions.hosts import drain
from paas.platform.control import plan as planning
from paas.platform.control.routes import healthy_web
from paas.platform.control.scheduling import capacities
from paas.platform.models import Event, Formation, Host, Instance
from tests.platform.accounts import client_for
from tests.web.fixtures import deployed_app

pytestmark = pytest.mark.usefixtures("own_redis_keys")


def api(user, method: str, path: str):
    response = client_for(user).call(method, path)
    return response.status_code, response.json_body


@pytest.fixture
def two_hosts(console_host):
    other = Host.objects.create(name="host-two", address="10.0.0.2", memory_mb=4096, cpus=4,
                                last_heartbeat=console_host.last_heartbeat, stacks=["host"])
    return console_host, other


def test_cordon_stops_placement_but_not_serving(root, alice_app, console_host):
    status, body = api(root, "POST", "/api/hosts/host-one/cordon")
    assert status == 200 and body["state"] == "draining"
    assert "host-one" not in [h.name for h in capacities()]
    release = alice_app.instances.get().release
    Instance.objects.filter(app=alice_app).update(address="10.0.0.9", port=5000)
    assert list(healthy_web(alice_app, release)), "a cordoned host's instances keep their routes"
    assert Event.objects.filter(action="host.cordon", actor=root).exists()
    status, body = api(root, "POST", "/api/hosts/host-one/uncordon")
    assert status == 200 and body["state"] == "up"


def test_drain_makes_only_the_drained_hosts_instances_stale(root, alice, two_hosts):
    one, two = two_hosts
    app = deployed_app(alice, "spread-app", one)
    release = app.instances.get().release
    Instance.objects.create(name="spread-app-web-2", app=app, release=release, process_type="web", number=2,
                            size="small", memory_mb=256, cpus=0.25, host=two, state=Instance.UP)
    Formation.objects.filter(app=app).update(quantity=2)
    assert drain(root, one) == 1
    formation = Formation.objects.get(app=app)
    assert formation.generation == 1
    by_host = dict(Instance.objects.filter(app=app).values_list("host__name", "generation"))
    assert by_host == {"host-one": 0, "host-two": 1}
    # The control loop's plan replaces exactly the stale one, its replacement first.
    wanted = {("web", n): planning.FormationView(2, "small", False, 1) for n in (1, 2)}
    views = [planning.InstanceView(i.pk, i.release_id, i.process_type, i.number, i.size, i.state,
                                   i.created_at.timestamp(), None, i.generation) for i in Instance.objects.filter(app=app)]
    plan = planning.Plan()
    planning.reconcile_formation(plan, wanted, views)
    assert [(s.process_type, s.number) for s in plan.create] == [("web", 1)] and plan.stop == []


def test_hosts_are_for_admins_only(alice, console_host):
    assert api(alice, "GET", "/api/hosts")[0] == 403
    assert api(alice, "POST", "/api/hosts/host-one/drain")[0] == 403
    assert Host.objects.get().state == Host.UP
    assert api(alice, "POST", "/api/hosts/%00/cordon")[0] == 404


def test_unknown_and_down_hosts_are_refused_by_name(root, console_host):
    status, body = api(root, "POST", "/api/hosts/nowhere/cordon")
    assert status == 404 and "nowhere" in body["message"]
    Host.objects.update(state=Host.DOWN)
    status, body = api(root, "POST", "/api/hosts/host-one/drain")
    assert status == 409 and "down" in body["message"]


def test_the_console_cordons_and_drains(admin_console, alice_client, alice_app, console_host):
    refused = alice_client.post("/console/hosts/host-one/cordon")
    assert refused.status_code == 302 and Host.objects.get().state == Host.UP
    response = admin_console.post("/console/hosts/host-one/drain")
    assert response.status_code == 302
    page = admin_console.get(response["Location"]).content.decode()
    assert "Draining host-one (1 instances move elsewhere)" in page and "Uncordon" in page
    assert Host.objects.get().state == Host.DRAINING


def test_a_restarted_agent_keeps_its_hosts_cordon(console_host):
    from paas.platform.hostagent import DjangoControlPlane
    from paas.runtime.agent import HostInfo

    info = HostInfo(console_host.name, console_host.address, console_host.memory_mb, console_host.cpus)
    Host.objects.update(state=Host.DRAINING)
    DjangoControlPlane().register(info)
    assert Host.objects.get().state == Host.DRAINING
    Host.objects.update(state=Host.DOWN)
    DjangoControlPlane().register(info)
    assert Host.objects.get().state == Host.UP


def test_usage_counts_what_holds_each_host_and_the_console_and_api_agree(root, alice, two_hosts):
    """Instances grouped by host (actions/hosts.usage): a stopped one holds nothing, an unplaced one belongs to no
    host, a host holding nothing shows zeros; the console's rows and /api/hosts say the same."""
    from paas.web.hosts import host_rows

    one, two = two_hosts
    app = deployed_app(alice, "usage-app", host=one)
    release = app.releases.order_by("-version").first()
    for number, (host, state, memory) in enumerate([(one, Instance.STARTING, 512), (one, Instance.STOPPED, 1024),
                                                    (None, Instance.PENDING, 2048)], start=2):
        Instance.objects.create(name=f"usage-app-web-{number}", app=app, release=release, process_type="web",
                                number=number, size="small", memory_mb=memory, cpus=0.5, host=host, state=state)
    rows = {row["name"]: row for row in host_rows()}
    assert {name: (r["used_memory_mb"], r["used_cpus"], r["instance_count"]) for name, r in rows.items()} == {
        "host-one": (256 + 512, 0.25 + 0.5, 2), "host-two": (0, 0.0, 0)}
    status, body = api(root, "GET", "/api/hosts")
    assert status == 200
    assert {h["name"]: (h["used_memory_mb"], h["used_cpus"], h["instances"]) for h in body} == {
        "host-one": (768, 0.75, 2), "host-two": (0, 0.0, 0)}
