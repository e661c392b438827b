"""HTTPS from the router to a pushed app, trusted through `paas certs:ca` as a user would; the push itself
goes over HTTPS too, to the git receiver at paas.localhost through the router."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from paas.pki import authority
from paas.platform.actions.apps import create_app
from paas.platform.actions.certs import set_auto_certificates
from paas.platform.models import Certificate, Domain, Release
from tests.waiting import wait_for

SCHEME_APP = {
    "Procfile": "web: python3 -u server.py\n",
    "server.py": (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = (self.headers.get('X-Forwarded-Proto', '') + ' ' + self.headers.get('X-Forwarded-Port', '')).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    ),
}


@pytest.fixture
def app(pusher, agent_host):
    return create_app(pusher.user, f"tls-{uuid.uuid4().hex[:8]}")


def test_curl_with_the_platform_ca_serves_the_app_over_https(pusher, app, platform_env, tmp_path, live_server,
                                                             monkeypatch):
    # The API (live_server, in this process) and the router share the platform's data dir, so its CA.
    monkeypatch.setenv("PAAS_DATA_DIR", platform_env["PAAS_DATA_DIR"])
    repo = pusher.repo(tmp_path / "src", SCHEME_APP, app.name)
    result = _push_over_https(pusher, repo, app.name, platform_env["PAAS_ROUTER_TLS_PORT"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "remote:" in result.stderr
    wait_for(lambda: Release.objects.get(app=app, version=2).status == "succeeded", 60, "v2 to be live")
    paas = str(Path(sys.executable).with_name("paas"))
    ca = subprocess.run([paas, "certs:ca"], capture_output=True, text=True, timeout=30,
                        env={**platform_env, "PAAS_API_URL": live_server.url, "HOME": str(tmp_path)})
    assert ca.returncode == 0, ca.stderr
    (tmp_path / "ca.pem").write_text(ca.stdout)
    port, host = platform_env["PAAS_ROUTER_TLS_PORT"], f"{app.name}.localhost"

    def fetch():
        out = subprocess.run(["curl", "-sS", "--cacert", str(tmp_path / "ca.pem"), "--resolve", f"{host}:{port}:127.0.0.1",
                              f"https://{host}:{port}/"], capture_output=True, text=True, timeout=30)
        return out.returncode == 0 and out.stdout

    assert wait_for(fetch, 15, "the router to serve the app over HTTPS") == f"https {port}"


def test_a_custom_domain_gets_a_certificate_from_pebble_by_itself(pusher, app, platform_env, acme_ca, tmp_path,
                                                                 settings):
    """The control loop orders it (a Celery task on the build worker), pebble validates through the
    router's plain port, the router serves it by SNI: nothing but certs:auto:enable from the user."""
    from django.utils import timezone

    pebble, _ = acme_ca
    from tests.pki.pebble import MISSING
    assert pebble is not None, MISSING
    settings.PAAS_ACME_DIRECTORY = pebble.directory_url   # the action's check runs in this process
    host = f"{app.name}.example.test"
    Domain.objects.create(app=app, hostname=host, verified_at=timezone.now(), verified_by=Domain.BY_ADMIN)
    set_auto_certificates(pusher.user, app, True)
    wait_for(lambda: Certificate.objects.filter(app=app, source=Certificate.ACME).exists(), 60,
             "an ACME certificate for the domain")
    (tmp_path / "pebble-root.pem").write_text(pebble.root_pem())
    port = platform_env["PAAS_ROUTER_TLS_PORT"]

    def verified():
        # The app has no release: the router answers 503, over a connection verified against pebble's root.
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                              str(tmp_path / "pebble-root.pem"), "--resolve", f"{host}:{port}:127.0.0.1",
                              f"https://{host}:{port}/"], capture_output=True, text=True, timeout=30)
        return out.returncode == 0 and out.stdout

    assert wait_for(verified, 20, "the router to serve the ACME certificate") == "503"


def _push_over_https(pusher, repo: Path, app: str, port: str, tmp_path: Path):
    """``git push`` to https://paas.localhost:<TLS port>/<app>.git as ``paas login`` leaves git set up: the token
    in .netrc for that host, the platform CA as http.<url>.sslCAInfo; no prompt (GIT_TERMINAL_PROMPT=0).

    git resolves paas.localhost through /etc/hosts: the push runs in a private mount namespace whose
    /etc/hosts names it (the machine's file is untouched; the namespace ends with the push)."""
    url = f"https://paas.localhost:{port}"
    (tmp_path / "platform-ca.pem").write_text(authority.ca_pem())
    netrc = pusher.home / ".netrc"
    netrc.write_text(netrc.read_text() + f"machine paas.localhost login pusher password {pusher.token}\n")
    pusher.git(repo, "config", "--global", f"http.{url}/.sslCAInfo", str(tmp_path / "platform-ca.pem"))
    pusher.git(repo, "remote", "set-url", "paas", f"{url}/{app}.git")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost paas.localhost\n")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'mount --bind "$0" /etc/hosts && exec git push paas main', str(hosts)],
                          cwd=repo, env=pusher.env(), capture_output=True, text=True, timeout=600)
