"""A Django-shaped app on a PostgreSQL add-on, every platform process running: its release phase migrates
the database DATABASE_URL names, its view writes rows; another app given the same URL cannot connect."""

import uuid

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.models import Addon, Instance, Release
from paas.services import broker
from tests.e2e.test_deploy import fetch
from tests.waiting import wait_for

PSQL = "['psql', os.environ['DATABASE_URL'], '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-tAc', {sql!r}]"
DB_APP = {
    # As the ecosystem's tutorials have it: a release command migrates, the web process serves.
    "Procfile": "web: python3 -u server.py\nrelease: python3 migrate.py\n",
    "migrate.py": (
        "import os, subprocess\n"
        f"subprocess.run({PSQL.format(sql='CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY)')},"
        " check=True, timeout=20)\n"
        "print('migrated', flush=True)\n"
    ),
    "server.py": (
        "import http.server, os, subprocess\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        r = subprocess.run({PSQL.format(sql='INSERT INTO visits DEFAULT VALUES; SELECT count(*) FROM visits')},"
        " capture_output=True, text=True, timeout=20)\n"
        "        body = (r.stdout.strip() if r.returncode == 0 else 'error').encode()\n"
        "        self.send_response(200 if r.returncode == 0 else 500)\n"
        "        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


def latest_live(app) -> bool:
    latest = Release.objects.filter(app=app).order_by("-version").first()
    return latest is not None and latest.status == "succeeded" and latest.build_id is not None


def test_an_app_migrates_and_writes_its_addon_database_and_no_other_app_connects(pusher, agent_host, platform_env,
                                                                                 tmp_path):
    app = create_app(pusher.user, f"db-{uuid.uuid4().hex[:8]}")
    addon = broker.provision(pusher.user, app, "postgres")
    try:
        wait_for(lambda: Addon.objects.get(pk=addon.pk).state == "available"
                 and all(a.bound for a in Addon.objects.get(pk=addon.pk).attachments.all()), 120,
                 "the add-on to be available and bound by the control loop")
        url = app.latest_release().config.values["DATABASE_URL"]
        repo = pusher.repo(tmp_path / "src", DB_APP, app.name)
        result = pusher.push(repo)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: latest_live(app), 60, "the pushed release to be live")
        phase = Instance.objects.get(app=app, process_type="release")
        assert phase.exit_code == 0  # the migration ran against the add-on
        port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
        first = wait_for(lambda: (r := fetch(port, host))[0] == 200 and r, 30, "the view to write a row")
        assert fetch(port, host) == (200, str(int(first[1]) + 1))

        other = create_app(pusher.user, f"db-{uuid.uuid4().hex[:8]}")
        change_config(pusher.user, other, {"DATABASE_URL": url})
        refused = pusher.push(pusher.repo(tmp_path / "other", DB_APP, other.name))
        assert refused.returncode != 0 and "release command" in refused.stderr
        assert fetch(port, host)[0] == 200  # the first app still writes
    finally:
        broker.deprovision(pusher.user, Addon.objects.get(pk=addon.pk), confirm=app.name)
        wait_for(lambda: not Addon.objects.filter(pk=addon.pk).exists(), 60, "the add-on and its volume to go")
