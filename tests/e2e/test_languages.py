"""A new user's flow for each kind of app the buildpacks ship: Flask, Express, a static site and a
Procfile-only app, each pushed with real git, built in a build container, and served through the router."""

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
