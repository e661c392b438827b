"""The tutorial-shaped apps people push, on the forky stack, with real git, through the router.

Each app under apps/ is pushed unchanged: a Django 6 app on Python 3.14 (whitenoise,
dj-database-url, gunicorn with a config file, a release phase), an Express app on Node 24 with
engines, a FastAPI app with uv.lock. Their dependencies come from the real registries, through
whatever this machine's outbound TLS passes (an intercepting proxy here: the stack trusts the
host's CA bundle).
"""

import uuid
from pathlib import Path

import pytest

from paas.platform.actions.apps import create_app
from tests.e2e.test_deploy import fetch, release_status
from tests.waiting import wait_for

APPS = Path(__file__).with_name("apps")


def app_files(name: str) -> dict[str, str]:
    root = APPS / name
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def e2e_forky(forky_stack, platform_env):
    """The tests' forky stack, seen by the end-to-end platform (its runtime dir is its own)."""
    from paas.runtime import config

    stacks = Path(platform_env["PAAS_DATA_DIR"]) / "runtime" / "stacks"
    stacks.mkdir(parents=True, exist_ok=True)
    link = stacks / "forky"
    if not link.exists():
        link.symlink_to(config.stacks_dir() / "forky")
    return "forky"


def push_and_fetch(pusher, platform_env, tmp_path, files, prefix):
    app = create_app(pusher.user, f"{prefix}-{uuid.uuid4().hex[:6]}", stack="forky")
    repo = pusher.repo(tmp_path / "src", files, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    version = app.releases.order_by("-version").first().version
    assert f"remote:        done, v{version}" in result.stderr and release_status(app, version) == "succeeded"
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    status, text = wait_for(lambda: (r := fetch(port, host))[0] == 200 and r, 30, "the app through the router")
    return app, result.stderr, text


def test_django6_on_python_314(pusher, agent_host, platform_env, e2e_forky, tmp_path):
    app, output, text = push_and_fetch(pusher, platform_env, tmp_path, app_files("django6"), "dj")
    assert "-----> Using Python 3.14." in output
    assert "-----> Running manage.py collectstatic" in output
    assert text.startswith("django 6.0") and "on python 3.14." in text
    # app.json: the secret generated on the first push, its other vars, formation and postdeploy.
    assert text.endswith("secret key of 64 characters")
    assert "-----> app.json: set DEBUG, DJANGO_SECRET_KEY" in output
    assert app.configs.order_by("-id").first().values["DEBUG"] == "0"
    run = wait_for(lambda: app.instances.filter(process_type="run", command="python manage.py check",
                                                exit_code__isnull=False).first(), 90, "the postdeploy one-off")
    assert run.exit_code == 0


def test_express_on_node_24(pusher, agent_host, platform_env, e2e_forky, tmp_path):
    _, output, text = push_and_fetch(pusher, platform_env, tmp_path, app_files("express24"), "ex")
    assert "-----> Using Node.js v24." in output
    assert text.startswith("express on node v24.")


def test_fastapi_with_uv_lock(pusher, agent_host, platform_env, e2e_forky, tmp_path, uv_lock):
    files = {**app_files("fastapi_uv"), "uv.lock": uv_lock(APPS / "fastapi_uv")}
    _, output, text = push_and_fetch(pusher, platform_env, tmp_path, files, "fa")
    assert "-----> Exporting uv.lock" in output
    assert '"hello":"fastapi"' in text and '"python":"3.14.' in text


def test_a_bad_app_json_rejects_the_push_naming_its_path_and_applies_nothing(pusher, agent_host, tmp_path):
    app = create_app(pusher.user, f"aj-{uuid.uuid4().hex[:6]}")
    files = {"index.html": "<p>hi</p>\n", "app.json": '{"env": {"KEY": {"generator": "secret"}, '
                                                      '"TOKEN": {"description": "no value"}}}\n'}
    result = pusher.push(pusher.repo(tmp_path / "src", files, app.name))
    assert result.returncode != 0
    assert "app.json: $.env.TOKEN: required and has no value; set it first with paas config:set TOKEN=..." in result.stderr
    assert list(app.releases.values_list("version", flat=True)) == [1]  # KEY was not generated either
    files["app.json"] = '{"formation": {"web": {"quantity": "two"}}}\n'
    repo = tmp_path / "src2"
    result = pusher.push(pusher.repo(repo, files, app.name))
    assert result.returncode != 0 and "app.json: $.formation.web.quantity: must be an integer" in result.stderr


def test_an_aptfile_installs_debian_packages_into_the_slug(pusher, agent_host, platform_env, e2e_forky, tmp_path):
    _, output, text = push_and_fetch(pusher, platform_env, tmp_path, app_files("aptfile"), "apt")
    assert "-----> Aptfile app detected" in output and "-----> Procfile app detected" in output
    assert text.startswith("apt says hi\njq-")
