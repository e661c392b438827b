"""A repository with only a Dockerfile: git push -> buildah in the build sandbox -> image store -> runner -> router.

FROM scratch, so no registry is needed here (tests/buildpacks/test_dockerfile.py pulls bases from one); the
app is the static probe (tests/runtime/data/probe.c) answering HTTP on the port its image EXPOSEs.
"""

import uuid


from paas.platform.actions.apps import create_app
from paas.platform.actions.formation import scale
from paas.platform.actions.releases import rollback
from paas.platform.models import Build, Instance
from paas.runtime import identity
from tests.e2e.test_deploy import fetch, release_status
from tests.runtime import imagearchives
from tests.waiting import wait_for



def dockerfile(greeting: str) -> str:
    return (f"FROM scratch\nCOPY probe /usr/bin/probe\nWORKDIR /srv\nENV GREETING={greeting}\nEXPOSE 7000\n"
            'ENTRYPOINT ["/usr/bin/probe"]\nCMD ["serve"]\n')


def test_a_dockerfile_app_deploys_scales_rolls_and_rolls_back(pusher, agent_host, platform_env, tmp_path):
    app = create_app(pusher.user, f"df-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", {"Dockerfile": dockerfile("first")}, app.name)
    (repo / "probe").write_bytes(imagearchives.probe_binary())
    (repo / "probe").chmod(0o755)
    pusher.git(repo, "add", "probe")
    pusher.git(repo, "commit", "-qm", "the server")
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    assert "remote: STEP 2/7: COPY probe /usr/bin/probe" in result.stderr and "Importing the image" in result.stderr
    build = Build.objects.get(app=app)
    assert (build.buildpack, build.process_types, build.stack) == ("dockerfile", {"web": ""}, "")
    wait_for(lambda: release_status(app, 2) == "succeeded", 60, "v2 to be live")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    served = f"uid={identity.app_uid(app.pk)} cwd=/srv"  # the app's uid, whatever the image's USER
    wait_for(lambda: fetch(port, host) == (200, f"first {served}"), 15, "the router to serve the image")
    scale(pusher.user, app, {"web": {"quantity": 2}})
    wait_for(lambda: Instance.objects.filter(app=app, desired_state="running", state="up").count() == 2, 30,
             "two instances of the image up")

    (repo / "Dockerfile").write_text(dockerfile("second"))
    pusher.git(repo, "commit", "-qam", "second")
    assert pusher.push(repo).returncode == 0
    wait_for(lambda: release_status(app, 3) == "succeeded", 60, "v3 to be live")
    wait_for(lambda: fetch(port, host) == (200, f"second {served}"), 15, "the new image to be served")

    rollback(pusher.user, app, "v2")
    wait_for(lambda: release_status(app, 4) == "succeeded", 60, "the rollback to be live")
    wait_for(lambda: fetch(port, host) == (200, f"first {served}"), 15, "the old image to be served again")
