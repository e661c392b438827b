"""A Dockerfile app built on a Docker engine (PAAS_BUILD_DOCKER_HOST), end to end: git push -> the engine's
build API -> image store -> runner -> router.

The session's platform builds with buildah; the test gets a git receiver and a build worker of its own
(a build queue of its own) with PAAS_BUILD_DOCKER_HOST naming the session's engine (tests/dockerd.py), on
the session's database, Redis, data directory, control loop, agent and router. Bases come from the
seeded loopback registry (tests/registry.py).
"""

import os
import uuid

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.models import Build, Release
from paas.runtime import identity
from tests.e2e.platform_procs import Processes, free_port, start_build_worker, start_git_server
from tests.e2e.test_deploy import fetch, release_status
from tests.waiting import wait_for


@pytest.fixture
def engine_git_url(git_platform, platform_env, e2e_data_dir, dockerd, seeded_registry, build_registry):
    """The URL of a git receiver whose pushes build on the session's Docker engine, pushing the images to the
    session's build registry (as make up sets the build worker up)."""
    port = free_port()
    env = {**platform_env, "PAAS_GIT_PORT": str(port), "PAAS_BUILD_QUEUE": f"builds-engine-e2e-{os.getpid()}",
           "PAAS_BUILD_DOCKER_HOST": dockerd, "PAAS_REGISTRY_ALLOW": seeded_registry,
           "PAAS_REGISTRY_INSECURE": seeded_registry, "PAAS_BUILD_REGISTRY": build_registry.address,
           "PAAS_BUILD_REGISTRY_PASSWORD": build_registry.login.secret, "PAAS_BUILD_REGISTRY_DIR": str(build_registry.root)}
    logs = e2e_data_dir / f"engine-builds-{uuid.uuid4().hex[:6]}"  # its own git.log and worker.log
    logs.mkdir()
    procs = Processes(env, logs)
    try:
        start_git_server(procs, port)
        start_build_worker(procs)
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.stop()


def dockerfile(registry: str, greeting: str, extra: str = "") -> str:
    # The RUN step comes before the ENV: a change of greeting reuses it from the app's cache. (The engine
    # adds a last step: the build's label.)
    return (f"FROM {registry}/paas/probe:1\nRUN echo built-on-the-engine\n{extra}"
            f"WORKDIR /srv\nENV GREETING={greeting}\n")


def test_a_push_builds_on_the_engine_streams_serves_and_a_failing_step_is_shown(
        pusher, agent_host, engine_git_url, seeded_registry, platform_env, tmp_path):
    app = create_app(pusher.user, f"eng-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", {"Dockerfile": dockerfile(seeded_registry, "first")}, app.name)
    pusher.git(repo, "remote", "set-url", "paas", f"{engine_git_url}/{app.name}.git")

    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    for line in ("remote: -----> Building the Dockerfile on the Docker engine", "remote: Step 2/5 : RUN echo built-on",
                 "remote: built-on-the-engine", "remote: -----> Pushing the image to the build registry",
                 "remote: -----> Importing the image"):
        assert line in result.stderr, result.stderr
    assert Build.objects.get(app=app).buildpack == "dockerfile"
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    served = f"uid={identity.app_uid(app.pk)} cwd=/srv"
    wait_for(lambda: fetch(port, host) == (200, f"first {served}"), 20, "the router to serve the engine's image")

    # A step that fails: the push is refused with the step, its output and its exit status; v2 keeps serving.
    marker = uuid.uuid4().hex[:10]
    (repo / "Dockerfile").write_text(dockerfile(seeded_registry, "broken", f"RUN echo says-{marker} && exit 3\n"))
    pusher.git(repo, "commit", "-qam", "a failing step")
    failed = pusher.push(repo)
    assert failed.returncode != 0
    for line in (f"remote: Step 3/6 : RUN echo says-{marker} && exit 3", f"remote: says-{marker}",
                 "returned a non-zero code: 3"):
        assert line in failed.stderr, failed.stderr
    assert Build.objects.filter(app=app, status=Build.FAILED).count() == 1
    assert not Release.objects.filter(app=app, version=3).exists()
    assert fetch(port, host) == (200, f"first {served}")

    # The next push reuses the app's cached steps and rolls out.
    (repo / "Dockerfile").write_text(dockerfile(seeded_registry, "second"))
    pusher.git(repo, "commit", "-qam", "second")
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    step = result.stderr.index("Step 2/5 : RUN echo built-on")
    assert "---> Using cache" in result.stderr[step:result.stderr.index("Step 3/5")], result.stderr
    # Only the changed ENV differs, which makes no layer: every layer is the app's already, none comes back.
    assert "remote: -----> Fetched 0 layer(s) the app does not have yet" in result.stderr, result.stderr
    wait_for(lambda: release_status(app, 3) == "succeeded", 60, "v3 to be live")
    wait_for(lambda: fetch(port, host) == (200, f"second {served}"), 20, "the new image to be served")
