"""Two hosts: instances spread over both; when one stops heartbeating its instances move to
the other, and when it comes back its stale instances are stopped, not doubled.

The second host is a machine of its own on the network: a network namespace joined to
this one by a veth pair, with its own address, bridge, firewall, data directory and
cgroups. Its agent reaches the control plane's PostgreSQL, Redis and API over that
link, and the router (on the first host) reaches its instances only through the ports
it publishes on its address. Killing its agent is the machine going away."""

import shutil
import uuid
from pathlib import Path


from paas.platform.actions.apps import create_app
from paas.platform.actions.formation import scale
from paas.platform.models import Event, Host, Instance
from tests.e2e.test_deploy import WEB_APP, fetch, release_status
from tests.waiting import wait_for


def test_instances_spread_move_on_host_loss_and_are_not_doubled(pusher, agent_host, second_host, platform_env,
                                                                  tmp_path):
    wait_for(lambda: Host.objects.filter(name=second_host.name, state="up").exists(), 20, "the second host")
    # Both hosts have the host stack (the second one's data dir is new: it has no other).
    app = create_app(pusher.user, f"hosts-{uuid.uuid4().hex[:8]}", stack="host")
    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    scale(pusher.user, app, {"web": {"quantity": 2}})
    running = lambda: Instance.objects.filter(app=app, desired_state="running", state="up")  # noqa: E731
    wait_for(lambda: set(running().values_list("host__name", flat=True)) == {agent_host.name, second_host.name},
             60, "one web instance on each host")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: {fetch(port, host)[1] for _ in range(10)} == {"hello from web.1", "hello from web.2"}, 20,
             "both hosts' instances behind the router")
    moved = running().get(host__name=second_host.name)
    # The router reaches it at the second machine's address, on the port published there.
    assert moved.address == second_host.machine.address and moved.port != 5000
    stale = second_host.running_here()

    second_host.procs.stop()  # the machine goes away (its instances keep running, unreachable to us)
    wait_for(lambda: Host.objects.get(name=second_host.name).state == "down", 30, "the host to be marked down")
    wait_for(lambda: running().filter(host__name=agent_host.name).count() == 2, 60,
             "both instances on the remaining host")
    assert Instance.objects.get(pk=moved.pk).host.name == agent_host.name
    wait_for(lambda: fetch(port, host)[0] == 200, 20, "the app served from the remaining host")

    second_host.start()  # back again: what it still runs is no longer its to run
    wait_for(lambda: Host.objects.get(name=second_host.name).state == "up", 30, "the host to be up again")
    wait_for(lambda: not (second_host.running_here() & stale), 30, "its stale instances to be stopped")
    wait_for(lambda: running().count() == 2, 20, "both instances still up on the first host")
    assert set(running().values_list("host__name", flat=True)) == {agent_host.name}
    assert release_status(app, 2) == "succeeded"
    only_where_the_stack_is(pusher, app, agent_host, second_host, Path(platform_env["PAAS_DATA_DIR"]), port)


def only_where_the_stack_is(pusher, app, agent_host, second_host, data_dir: Path, port: int) -> None:
    """Placement sends an instance only to a host with its stack; with none, it stays unplaced, saying why.

    The first host gets a stack the second lacks (a copy of its host stack's description);
    the running slug is released again as built for it. Spread alone would put one of the
    two new instances on the idle second host.
    """
    stacks_dir = data_dir / "runtime" / "stacks"
    only_first, nowhere = f"e2e-first-{uuid.uuid4().hex[:6]}", f"e2e-nowhere-{uuid.uuid4().hex[:6]}"
    (stacks_dir / only_first).mkdir()
    try:
        (stacks_dir / only_first / "stack.json").write_bytes((stacks_dir / "host" / "stack.json").read_bytes())
        wait_for(lambda: only_first in Host.objects.get(name=agent_host.name).stacks, 20,
                 "the first host to report its new stack")
        assert Host.objects.get(name=second_host.name).stacks == ["host"]

        release_on_stack(pusher.user, app, only_first)
        wait_for(lambda: release_status(app, 3) == "succeeded", 60, "v3 (on the first host's stack) live")
        v3 = Instance.objects.filter(app=app, release__version=3, desired_state="running", state="up")
        assert v3.count() == 2 and set(v3.values_list("host__name", flat=True)) == {agent_host.name}

        release_on_stack(pusher.user, app, nowhere)
        stuck = lambda: Instance.objects.filter(app=app, release__version=4, state="unplaced")  # noqa: E731
        wait_for(lambda: stuck().count() == 2, 30, "v4's instances unplaced")
        reason = stuck().first().unplaced_reason
        assert f"no host up has the stack '{nowhere}'" in reason and only_first in reason, reason
        assert Event.objects.filter(app=app, action="instance.unplaced", message__contains=nowhere).exists()
        assert fetch(port, f"{app.name}.localhost")[0] == 200  # v3 keeps serving meanwhile
    finally:
        shutil.rmtree(stacks_dir / only_first)


def release_on_stack(user, app, stack: str) -> None:
    """The live slug released again as if it had been built for ``stack`` (no push: the slug is the same)."""
    from django.db import transaction

    from paas.platform.actions.releases import create_release
    from paas.platform.models import App, Build

    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        live = app.latest_release()
        build = Build.objects.create(app=app, status=Build.SUCCEEDED, stack=stack, commit=live.build.commit,
                                     slug_digest=live.build.slug_digest, process_types=live.build.process_types)
        create_release(app, user=user, build=build, config=live.config, summary=f"the same slug on {stack}")
