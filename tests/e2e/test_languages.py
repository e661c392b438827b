"""A new user's flow for each kind of app the buildpacks ship: Flask, Express, a static site and a
Procfile-only app, each pushed with real git, built in a build container, and served through the router."""

import os
import uuid

import pytest

from paas.platform.actions.apps import create_app
from tests.e2e.test_deploy import fetch, release_status
from tests.waiting import wait_for

FLASK = {
    "requirements.txt": "flask\n",
    "app.py": "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'flask says hi'\n",
}
EXPRESS = {
    "package.json": '{"name": "hi", "version": "1.0.0", "private": true, "scripts": {"start": "node server.js"},'
                    ' "dependencies": {"express": "^4.21.2"}}\n',
    "server.js": "const app = require('express')();\napp.get('/', (q, r) => r.type('text/plain').send('express says hi'));\n"
                 "app.listen(process.env.PORT, '0.0.0.0');\n",
}
STATIC = {"index.html": "<!doctype html><title>hi</title><p>static says hi</p>\n"}
PROCFILE = {
    "Procfile": "web: ./serve.sh\n",
    "serve.sh": "#!/bin/sh\ncd \"$(mktemp -d)\" && echo procfile says hi > index.html && exec python3 -m http.server \"$PORT\"\n",
}


@pytest.mark.parametrize(("files", "detected", "body"), [
    (FLASK, "Python app detected", "flask says hi"),
    (EXPRESS, "Node.js app detected", "express says hi"),
    (STATIC, "Static site app detected", "static says hi"),
    (PROCFILE, "Procfile app detected", "procfile says hi"),
], ids=["flask", "express", "static", "procfile"])
def test_push_builds_and_serves(pusher, agent_host, platform_env, tmp_path, files, detected, body):
    app = create_app(pusher.user, f"lang-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", files, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    assert detected.lower() in result.stderr.lower()
    assert "remote:        done, v2" in result.stderr
    assert release_status(app, 2) == "succeeded"
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    status, text = wait_for(lambda: (r := fetch(port, host))[0] == 200 and r, 15, "the app through the router")
    assert body in text


@pytest.mark.parametrize(("files", "changed", "tree", "reused"), [
    (FLASK, "app.py", ".paas/python/flask/__init__.py",
     "Reusing installed dependencies from the last build (requirements.txt unchanged)"),
    (EXPRESS, "server.js", "node_modules/express/package.json",
     "Reusing node_modules from the last build (package.json unchanged)"),
], ids=["flask", "express"])
def test_a_redeploy_takes_unchanged_dependencies_from_the_last_slug_without_copying_them(
        pusher, agent_host, platform_env, tmp_path, monkeypatch, files, changed, tree, reused):
    """The second push's slug gets the first one's dependency tree as hard links (buildpacks/reuse.py):
    the new release's layer shares those files with the last one's, and serves the change."""
    # The image store the platform's processes use (this process's runtime settings are the runtime tests').
    monkeypatch.delenv("PAAS_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("PAAS_DATA_DIR", platform_env["PAAS_DATA_DIR"])
    app = create_app(pusher.user, f"redeploy-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", files, app.name)
    assert pusher.push(repo).returncode == 0
    # The live release's layer now; its image may be collected once the next one is live.
    first = os.stat(layer(app) / tree)
    (repo / changed).write_text(files[changed].replace("says hi", "says hi again"))
    pusher.git(repo, "commit", "-qam", "one line")
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    assert reused in result.stderr
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: "says hi again" in fetch(port, host)[1], 30, "the change through the router")
    second = os.stat(layer(app) / tree)
    assert (second.st_dev, second.st_ino) == (first.st_dev, first.st_ino)


def layer(app):
    """The /app of the app's latest build as this host has it (its instances' layer)."""
    from paas.platform.models import Build
    from paas.runtime import identity, images

    build = Build.objects.filter(app=app).exclude(slug_digest="").order_by("-created_at").first()
    return images.unpacked(build.slug_digest, uid=identity.app_uid(app.pk)) / "app"
