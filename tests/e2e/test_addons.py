"""A Django-shaped app on a PostgreSQL add-on, every platform process running: its release phase migrates
the database DATABASE_URL names, its view writes rows; another app given the same URL cannot connect."""

import uuid
from urllib.parse import urlsplit

from paas.platform.actions.apps import create_app
from paas.platform.actions.config import change_config
from paas.platform.models import Addon, Instance, Release
from paas.services import broker
from tests.e2e.test_deploy import fetch
from tests.services.fixtures import app_with_slug
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


def host_reports_its_stacks(host) -> None:
    """Placement asks for the add-on's stack: the fixture's row has none until the agent's next heartbeat."""
    from paas.platform.models import Host

    wait_for(lambda: "host" in Host.objects.get(pk=host.pk).stacks, 30, f"{host.name} to report its stacks")


def latest_live(app) -> bool:
    latest = Release.objects.filter(app=app).order_by("-version").first()
    return latest is not None and latest.status == "succeeded" and latest.build_id is not None


def test_an_app_migrates_and_writes_its_addon_database_and_no_other_app_connects(pusher, agent_host, platform_env,
                                                                                 tmp_path):
    app = create_app(pusher.user, f"db-{uuid.uuid4().hex[:8]}")
    host_reports_its_stacks(agent_host)
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


def test_an_attached_apps_containers_on_another_host_reach_the_addon_and_no_one_elses(git_platform, agent_host,
                                                                                     second_host, tmp_path):
    """The server on the first host, one-offs on the second: the attached app's connects through its own
    host's gateway port; another app's with the same URL, and the attached app's straight to the first
    host's address, are refused."""
    from django.db import transaction

    from paas.platform.models import Host

    wait_for(lambda: Host.objects.filter(name=second_host.name, state="up").exists(), 20, "the second host")
    host_reports_its_stacks(agent_host)
    # The first host as the second one reaches it (the e2e platform's agent says loopback: one machine).
    Host.objects.filter(pk=agent_host.pk).update(address=second_host.machine.our_address)
    user, slug = make_user(f"xh-{uuid.uuid4().hex[:6]}"), stored_slug(tmp_path)
    app, other = (app_with_slug(user, f"xh-{uuid.uuid4().hex[:8]}", slug) for _ in range(2))
    with transaction.atomic():  # on the first host, whatever spread would say
        addon = broker.provision(user, app, "postgres")
        Addon.objects.filter(pk=addon.pk).update(host=agent_host)
    try:
        wait_for(lambda: Addon.objects.get(pk=addon.pk).state == "available"
                 and all(a.bound for a in Addon.objects.get(pk=addon.pk).attachments.all()), 120,
                 "the add-on to be available and bound by the control loop")
        url = app.latest_release().config.values["DATABASE_URL"]
        gateway = urlsplit(url).hostname  # the bridges' first gateway, the same on every host
        assert one_off_on(second_host, app, WRITE.format(url="$DATABASE_URL")) == 0
        assert one_off_on(second_host, other, WRITE.format(url=url)) != 0
        direct = url.replace(f"@{gateway}:", f"@{second_host.machine.our_address}:")
        assert one_off_on(second_host, app, WRITE.format(url=direct)) != 0
    finally:
        broker.deprovision(user, Addon.objects.get(pk=addon.pk), confirm=app.name)
        wait_for(lambda: not Addon.objects.filter(pk=addon.pk).exists(), 60, "the add-on and its volume to go")


WRITE = ('PGCONNECT_TIMEOUT=3 psql "{url}" -X -v ON_ERROR_STOP=1 -tAc '
         '"CREATE TABLE IF NOT EXISTS hits (n int); INSERT INTO hits VALUES (1)"')


def make_user(name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(name, f"{name}@example.com", "pw-pw-pw-pw")


def stored_slug(tmp_path):
    """A slug in the platform's image store (the second host fetches it from the API)."""
    import io
    import tarfile

    from paas.runtime import images

    path = tmp_path / "slug.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return images.put(path, stack="host", process_types={"web": "sleep 600"})


def one_off_on(host, app, command: str) -> int:
    """`command` as a one-off of `app` on `host` (its agent starts it); its exit code."""
    from paas.platform.models import Host

    inst = Instance.objects.create(name=f"{app.name}-run-{uuid.uuid4().hex[:6]}", app=app,
                                   release=app.latest_release(), process_type="run", number=1, command=command,
                                   size="small", memory_mb=128, cpus=0.5, host=Host.objects.get(name=host.name),
                                   kind=Instance.ONEOFF)
    return wait_for(lambda: (i := Instance.objects.get(pk=inst.pk)).exit_code is not None
                    and i.desired_state == Instance.STOP and (i.exit_code,), 60, f"one-off of {app.name}")[0]
