"""`git push paas main` with real git against the git server and a real build worker."""

import uuid

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.actions.tokens import issue_token
from tests.platform.accounts import make_user
from paas.platform.models import App, Build, Release

PROCFILE_APP = {
    "Procfile": "web: ./serve.sh\nworker: ./work.sh\n",
    "serve.sh": "#!/bin/sh\nexec python3 -m http.server \"$PORT\"\n",
    "work.sh": "#!/bin/sh\nwhile true; do echo working; sleep 5; done\n",
}


@pytest.fixture
def app(pusher):
    return create_app(pusher.user, f"pushed-{uuid.uuid4().hex[:8]}")


def test_push_builds_streams_output_and_releases(pusher, app, tmp_path, platform_env):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    assert f"remote: -----> Building {app.name} from" in result.stderr
    assert "remote: -----> Procfile app detected" in result.stderr or "Procfile" in result.stderr
    assert "remote: -----> Released v2" in result.stderr
    assert "remote: -----> Launching..." in result.stderr and "remote:        done, v2" in result.stderr
    assert f"http://{app.name}.localhost:{platform_env['PAAS_ROUTER_PORT']}/ deployed" in result.stderr
    build = Build.objects.get(app=app)
    assert build.status == Build.SUCCEEDED
    assert build.process_types == {"web": "./serve.sh", "worker": "./work.sh"}
    assert build.slug_digest.startswith("sha256:")
    release = Release.objects.get(app=app, version=2)
    assert release.build_id == build.pk and release.summary.startswith("Deploy ")
    assert list(app.formation.values_list("process_type", "quantity")) == [("web", 1)]


def test_failed_build_rejects_the_push_and_releases_nothing(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", {"README": "nothing to build here\n"}, app.name)
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "build failed" in result.stderr
    assert Release.objects.filter(app=app).count() == 1
    assert Build.objects.get(app=app).status == Build.FAILED
    # The branch did not move: a fetch finds nothing there.
    assert "main" not in pusher.git(repo, "ls-remote", "paas", check=False).stdout


def test_other_branches_are_refused_with_a_message(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    pusher.git(repo, "checkout", "-q", "-b", "feature")
    result = pusher.push(repo, "feature")
    assert result.returncode != 0
    assert "only main or master" in result.stderr
    assert not Build.objects.filter(app=app).exists()


def test_another_branch_deploys_when_pushed_to_main(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    pusher.git(repo, "checkout", "-q", "-b", "feature")
    result = pusher.push(repo, "feature:main")
    assert result.returncode == 0, result.stderr
    assert Build.objects.get(app=app).ref == "refs/heads/main"


def test_wrong_token_is_refused(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    (pusher.home / ".netrc").write_text("machine 127.0.0.1 login x password paas_wrong\n")
    result = pusher.push(repo)
    # git asks for other credentials after a 401; with prompts disabled it stops there.
    assert result.returncode != 0
    assert "Username" in result.stderr or "Authentication failed" in result.stderr
    assert not Build.objects.filter(app=app).exists()


def test_strangers_cannot_push_or_fetch(pusher, app, tmp_path):
    stranger = make_user("stranger")
    _, secret = issue_token(stranger)
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    (pusher.home / ".netrc").write_text(f"machine 127.0.0.1 login stranger password {secret}\n")
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "do not have access" in result.stderr
    fetch = pusher.git(repo, "fetch", "paas", check=False)
    assert fetch.returncode != 0 and "do not have access" in fetch.stderr
    assert not Build.objects.filter(app=app).exists()


def test_read_only_token_cannot_push(pusher, app, tmp_path):
    _, secret = issue_token(pusher.user, scopes=["read"])
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    (pusher.home / ".netrc").write_text(f"machine 127.0.0.1 login pusher password {secret}\n")
    result = pusher.push(repo)
    assert result.returncode != 0 and "write" in result.stderr


def test_unknown_app_is_a_clear_404(pusher, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, "ghost-app")
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "ghost-app" in result.stderr and "not found" in result.stderr


def test_clone_returns_what_was_deployed(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    assert pusher.push(repo).returncode == 0
    clone = tmp_path / "clone"
    result = pusher.git(tmp_path, "clone", "-q", f"{pusher.git_url}/{app.name}.git", str(clone), check=False)
    assert result.returncode == 0, result.stderr
    assert (clone / "Procfile").read_text() == PROCFILE_APP["Procfile"]


def test_symlink_out_of_the_tree_fails_the_build(pusher, app, tmp_path):
    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    (repo / "secrets").symlink_to("/etc/shadow")
    pusher.git(repo, "add", "secrets")
    pusher.git(repo, "commit", "-q", "-m", "link")
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "build failed" in result.stderr and "secrets" in result.stderr
    assert Release.objects.filter(app=app).count() == 1


def test_a_second_push_while_building_is_refused(pusher, app, tmp_path):
    from paas.platform.git.lock import PushLock

    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    held = PushLock(app.name)
    assert held.acquire()
    try:
        result = pusher.push(repo)
    finally:
        held.release()
    assert result.returncode != 0
    assert "another push" in result.stderr
    assert not Build.objects.filter(app=app).exists()
    assert pusher.push(repo).returncode == 0


def test_build_history_through_the_api(pusher, app, tmp_path):
    from tests.platform.accounts import ApiClient

    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    assert pusher.push(repo).returncode == 0
    client = ApiClient(pusher.token)
    builds = client.get(f"/api/apps/{app.name}/builds").json_body
    assert [b["status"] for b in builds] == ["succeeded"]
    info = client.get(f"/api/apps/{app.name}/builds/{builds[0]['id'][:8]}").json_body
    assert "Released v2" in info["output"]
    assert client.post(f"/api/apps/{app.name}/builds/{builds[0]['id']}/cancel").status_code == 409
    assert client.get(f"/api/apps/{app.name}/builds/nothere").status_code == 404
    assert client.delete(f"/api/apps/{app.name}/build-cache").status_code == 200


def test_destroying_an_app_removes_its_repository(pusher, app, tmp_path, platform_env):
    from pathlib import Path

    from paas.platform.actions.apps import destroy_app

    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    assert pusher.push(repo).returncode == 0
    repo_dir = Path(platform_env["PAAS_DATA_DIR"]) / "repos" / f"{app.name}.git"
    assert repo_dir.exists()
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setattr(settings, "PAAS_DATA_DIR", Path(platform_env["PAAS_DATA_DIR"]))
        destroy_app(pusher.user, App.objects.get(pk=app.pk), app.name)
    assert not repo_dir.exists()


def test_a_running_build_can_be_cancelled(pusher, app, tmp_path):
    import threading
    import time

    from paas.platform.actions.builds import cancel_build

    hanging = {
        "setup.py": "import time\ntime.sleep(300)\nfrom setuptools import setup\nsetup(name='hang', version='1')\n",
        "Procfile": "web: python3 -m http.server $PORT\n",
    }
    repo = pusher.repo(tmp_path / "src", hanging, app.name)
    result = {}
    pushing = threading.Thread(target=lambda: result.update(push=pusher.push(repo)))
    pushing.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not Build.objects.filter(app=app, status=Build.BUILDING).exists():
        time.sleep(0.2)
    cancel_build(pusher.user, Build.objects.get(app=app))
    pushing.join(timeout=120)
    assert not pushing.is_alive()
    assert result["push"].returncode != 0
    assert "cancelled" in result["push"].stderr
    assert Build.objects.get(app=app).status == Build.CANCELLED
    assert Release.objects.filter(app=app).count() == 1


def test_a_push_over_the_size_limit_is_refused(pusher, app, tmp_path):
    import os

    repo = pusher.repo(tmp_path / "src", PROCFILE_APP, app.name)
    (repo / "huge.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    pusher.git(repo, "add", "huge.bin")
    pusher.git(repo, "commit", "-q", "-m", "huge")
    result = pusher.push(repo)
    assert result.returncode != 0
    assert not Build.objects.filter(app=app).exists()
    assert Release.objects.filter(app=app).count() == 1
