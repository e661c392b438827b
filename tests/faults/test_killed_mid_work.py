"""`kill -9` of the build worker mid-build and of the control loop mid-rollout, on the end-to-end
platform: the build is built again and the push ends with a live release; the rollout completes
once the control loop is back, and the app answers every request throughout."""

import subprocess
import uuid

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.builds.output import stream_key
from paas.platform.models import Build, Instance, Release
from paas.platform.redis_client import get_redis
from tests.e2e.platform_procs import start_build_worker, start_control_loop
from tests.e2e.test_deploy import WEB_APP, fetch, release_status
from tests.faults.e2e_kill import kill_program
from tests.load import Load
from tests.waiting import wait_for

# A build that takes a while, in a step whose start the test can see in the build's output.
SLOW_BUILD_APP = {
    "package.json": ('{"name": "slow", "version": "1.0.0", "private": true, "scripts": '
                     '{"start": "node server.js", "build": "echo slow build started && sleep 5 && echo built"}}'),
    "server.js": ("require('http').createServer((req, res) => res.end('slow but built'))"
                  ".listen(process.env.PORT)\n"),
}


def output_of(build: Build) -> str:
    entries = get_redis().xrange(stream_key(build.uuid))
    return "\n".join(fields.get(b"line", b"").decode() for _, fields in entries)


def test_a_build_worker_killed_mid_build_builds_it_again_and_the_push_ends_live(pusher, agent_host, platform_env,
                                                                                tmp_path):
    app = create_app(pusher.user, f"slow-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", SLOW_BUILD_APP, app.name)
    push = subprocess.Popen(["git", "push", "paas", "main"], cwd=repo, env=pusher.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        build = wait_for(lambda: Build.objects.filter(app=app).first(), 60, "the build row")
        wait_for(lambda: "slow build started" in output_of(build), 120, "the build step to run")
        kill_program(pusher.procs, "celery")
        start_build_worker(pusher.procs)
        _, err = push.communicate(timeout=300)
    finally:
        if push.poll() is None:
            push.kill()
            push.wait()
    # The pusher saw why the build ran twice, and the push succeeded only with a live release.
    assert push.returncode == 0, err[-3000:]
    assert "The build worker stopped during this build; it is queued again" in err
    assert "Building again from the start" in err
    assert err.count("Running npm run build") == 2
    assert Build.objects.get(pk=build.pk).status == Build.SUCCEEDED
    assert release_status(app, 2) == Release.SUCCEEDED
    port = int(platform_env["PAAS_ROUTER_PORT"])
    assert wait_for(lambda: fetch(port, f"{app.name}.localhost") == (200, "slow but built"), 30, "the app served")


def test_a_control_loop_killed_mid_rollout_completes_it_when_back(pusher, agent_host, platform_env, tmp_path):
    app = create_app(pusher.user, f"roll-{uuid.uuid4().hex[:8]}")
    # v3 listens only after START_DELAY: the rollout is surely under way when the loop is killed
    # (a start is otherwise fast enough to be over before the test looks).
    slow_start = {**WEB_APP, "server.py": "import os, time\ntime.sleep(float(os.environ.get('START_DELAY', '0')))\n"
                  + WEB_APP["server.py"]}
    repo = pusher.repo(tmp_path / "src", slow_start, app.name)
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 2) == Release.SUCCEEDED, 60, "v2 to be live")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: fetch(port, host) == (200, "hello from web.1"), 30, "v2 served")
    with Load(port, host, keepalive=2, fresh=1, pause=0.01) as load:
        change_config(pusher.user, app, {"GREETING": "bonjour", "START_DELAY": "5"})
        # Mid-rollout: v3's instance exists and is not yet serving.
        wait_for(lambda: Instance.objects.filter(app=app, release__version=3).exists(), 60, "v3's instance")
        assert release_status(app, 3) in (Release.PENDING, Release.DEPLOYING)
        kill_program(pusher.procs, "paas-control")
        start_control_loop(pusher.procs)
        wait_for(lambda: release_status(app, 3) == Release.SUCCEEDED, 90, "v3 to be live after the restart")
        wait_for(lambda: fetch(port, host) == (200, "bonjour from web.1"), 30, "v3 served")
        wait_for(lambda: not Instance.objects.filter(app=app, release__version=2, desired_state="running").exists(),
                 30, "v2's instances to be stopped")
        mark = load.total()
        wait_for(lambda: load.total() > mark + 50, 30, "load after the rollout")
    tally = load.stop()
    # Either body is right mid-rollout; what matters is that every request was answered.
    assert tally.failed == 0, tally.failures
