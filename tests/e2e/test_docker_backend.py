"""An agent with the Docker backend serves an app through the router; the app's release, exported, runs
under `docker run` with the same answer.

The agent is a second host of this machine (its own data directory, fetching images from the API like
any other host) running its instances on the session's Docker engine (tests/dockerd.py); the first
host is drained, so placement sends the app there. One image deploy covers both halves.
"""

import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.actions.imagedeploys import deploy_archive, export_release
from paas.platform.models import Host, Instance
from paas.runtime import identity
from tests.dockerd import answer_of_docker_run, docker_cli
from tests.e2e.platform_procs import BIN, Processes
from tests.e2e.test_deploy import fetch, release_status
from tests.runtime import imagearchives as ia
from tests.waiting import wait_for


@pytest.fixture
def docker_host(platform_env, e2e_data_dir, live_server, monkeypatch, transactional_db, dockerd):
    """`paas-agent` with PAAS_RUNTIME_BACKEND=docker on the session's engine; its engine containers gone after."""
    from paas.platform.actions.tokens import issue_token
    from tests.platform.accounts import make_user

    # The API (live_server, in this process) serves images from the first host's store, where the
    # deploy below (in this process too) imports them.
    monkeypatch.setenv("PAAS_DATA_DIR", platform_env["PAAS_DATA_DIR"])
    monkeypatch.delenv("PAAS_RUNTIME_DIR", raising=False)
    _, token = issue_token(make_user("docker-agent", admin=True))
    data = e2e_data_dir / f"docker-host-{uuid.uuid4().hex[:6]}"
    data.mkdir()
    env = {**platform_env, "PAAS_DATA_DIR": str(data), "PAAS_HOST_NAME": f"docker-{os.getpid()}",
           "PAAS_RUNTIME_BACKEND": "docker", "PAAS_DOCKER_HOST": dockerd, "PAAS_API_URL": live_server.url,
           "PAAS_AGENT_TOKEN": token}
    procs = Processes(env, e2e_data_dir)
    # The host's row outlives the agent of an earlier test (the same name): this agent is up once it has
    # heartbeaten itself.
    started = timezone.now()
    procs.start("agent-docker", [str(BIN / "paas-agent"), "--interval", "0.3"])
    try:
        wait_for(lambda: Host.objects.filter(name=env["PAAS_HOST_NAME"], state="up",
                                             last_heartbeat__gte=started).exists(), 120, "the docker backend's agent up")
        yield env
    finally:
        procs.stop()  # an agent's SIGTERM leaves its instances running: they are removed here
        _stop_instances(env)


def _stop_instances(env: dict) -> None:
    """What the agent left running: the engine's containers (removed by force), networks and instance directories."""
    from paas.runtime.dockerbackend import DockerBackend

    backend, instances = DockerBackend(base_url=env["PAAS_DOCKER_HOST"]), Path(env["PAAS_DATA_DIR"]) / "runtime" / "instances"
    old = os.environ.copy()
    os.environ["PAAS_DATA_DIR"] = env["PAAS_DATA_DIR"]  # the runtime reads its directories on each call
    try:
        for directory in instances.iterdir() if instances.is_dir() else ():
            backend.release(directory.name)
    finally:
        os.environ.clear()
        os.environ.update(old)


def probe_archive(path: Path) -> Path:
    """A docker-save archive of the static probe serving HTTP ("<GREETING> uid=<uid> cwd=<cwd>")."""
    layer = ia.layer(ia.member("srv", kind=tarfile.DIRTYPE), ia.member("usr", kind=tarfile.DIRTYPE),
                     ia.member("usr/bin", kind=tarfile.DIRTYPE),
                     ia.member("usr/bin/probe", ia.probe_binary(), mode=0o755))
    return ia.docker_save(path, [layer], Entrypoint=["/usr/bin/probe"], Cmd=["serve"], WorkingDir="/srv",
                          ExposedPorts={"7000/tcp": {}})


def test_the_docker_backend_serves_through_the_router_and_an_export_runs_under_docker_run(
        pusher, agent_host, docker_host, platform_env, tmp_path):
    name = docker_host["PAAS_HOST_NAME"]
    Host.objects.filter(pk=agent_host.pk).update(state=Host.DRAINING)  # placement: the docker host only
    app = create_app(pusher.user, f"dk-{uuid.uuid4().hex[:8]}")
    change_config(pusher.user, app, {"GREETING": "hello from the engine"})
    release = deploy_archive(pusher.user, app, probe_archive(tmp_path / "probe.tar"))
    wait_for(lambda: release_status(app, release.version) == "succeeded", 90, "the image release live")
    instance = Instance.objects.get(app=app, desired_state="running", state="up")
    assert instance.host.name == name and instance.address.startswith("10.231.")  # PAAS_DOCKER_POOL
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    answer = f"hello from the engine uid={identity.app_uid(app.pk)} cwd=/srv"
    wait_for(lambda: fetch(port, host) == (200, answer), 20, "the router to serve the docker backend's instance")

    # No lock-in: the release leaves the platform as an archive `docker load` and `docker run` take.
    exported = tmp_path / "release.tar"
    with export_release(pusher.user, app, release) as out, open(exported, "wb") as copy:
        copy.write(out.read())
    url, tag = docker_host["PAAS_DOCKER_HOST"], f"paas/{app.name}:v{release.version}"
    assert tag in docker_cli(url, "load", "-i", str(exported))
    # The same env is the image's own (the release's config vars); the same uid, to answer alike.
    uid = identity.app_uid(app.pk)
    assert answer_of_docker_run(url, tag, "--user", f"{uid}:{uid}") == answer


def test_an_attached_run_on_the_docker_backend_takes_stdin_and_returns_its_exit_code(
        pusher, agent_host, docker_host, live_server, tmp_path):
    """`paas run` (piped) of a slug app whose instances the docker backend runs: the one-off runs in the engine,
    relayed through its attach stream (runtime/dockerattach.py)."""
    from tests.e2e.test_deploy import WEB_APP
    from tests.e2e.test_run import PAAS, cli_env

    name = docker_host["PAAS_HOST_NAME"]
    Host.objects.filter(pk=agent_host.pk).update(state=Host.DRAINING)  # placement: the docker host only
    # The host stack: once a Debian stack is built (tests/buildpacks' real apps), it is the default, and its
    # first import into the engine outlasts the rollout's 30 s start timeout here; that is not this test's subject.
    app = create_app(pusher.user, f"dkrun-{uuid.uuid4().hex[:8]}", stack="host")
    repo = pusher.repo(tmp_path / "src", {**WEB_APP, "shout.py": "import sys\nprint(sys.stdin.read().upper())\n"},
                       app.name)
    pushed = pusher.push(repo)
    assert pushed.returncode == 0, pushed.stderr[-4000:]
    wait_for(lambda: release_status(app, 2) == "succeeded", 90, "v2 live on the docker host")
    result = subprocess.run([PAAS, "run", "-a", app.name, "--", "python3 shout.py && exit 3"],
                            input="hello from stdin\n", capture_output=True, text=True,
                            env=cli_env(pusher, live_server), timeout=180)
    assert result.returncode == 3, result.stderr
    assert "HELLO FROM STDIN" in result.stdout
    run = Instance.objects.get(app=app, kind="oneoff")
    assert run.host.name == name and run.exit_code == 3
