"""``paas login --api https://paas.<base>``: the platform CA trusted once (or --ca), every command and git over TLS.

The real CLI runs against the real API (live_server) through the real router's TLS port. The CLI
resolves ``paas.localhost`` through /etc/hosts, so each run gets a private mount namespace in
which /etc/hosts names it (the machine's own file is never touched).
"""

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from paas.pki import authority
from tests.pki.certmaker import make, pem
from tests.platform.accounts import make_user
from tests.router.router_helpers import RunningRouter, router_settings

PAAS = str(Path(sys.executable).with_name("paas"))
PASSWORD = "correct-horse-battery\n"


class TlsCli:
    def __init__(self, home: Path, hosts: Path):
        self.home, self.hosts = home, hosts

    def run(self, *args, input=None, ok=True):
        # The private mount namespace ends with the command: nothing to undo.
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/hosts && exec "$@"', str(self.hosts), *args]
        env = {"HOME": str(self.home), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
               "GIT_CONFIG_NOSYSTEM": "1", "PYTHONSAFEPATH": "1", "GIT_TERMINAL_PROMPT": "0"}
        result = subprocess.run(command, capture_output=True, text=True, input=input, env=env, timeout=60)
        if ok:
            assert result.returncode == 0, f"{' '.join(args)} failed: {result.stderr}"
        return result

    def paas(self, *args, **kw):
        return self.run(PAAS, *args, **kw)


@pytest.fixture
def tls_platform(live_server, tmp_path, monkeypatch):
    """The router with TLS routing paas.localhost to the API; a CLI home that resolves that name."""
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path / "data"))   # the router's and the API's CA alike
    s = router_settings(settings.PAAS_REDIS_PREFIX)
    s.redis_url, s.tls_port = settings.REDIS_URL, 0
    s.platform_api = ("127.0.0.1", urlsplit(live_server.url).port)
    router = RunningRouter(s)
    make_user("carol")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost paas.localhost\n")
    home = tmp_path / "home"
    home.mkdir()
    try:
        yield TlsCli(home, hosts), f"https://paas.localhost:{router.tls_port}"
    finally:
        router.stop()


def test_login_trusts_the_platform_ca_once_and_git_uses_it(tls_platform):
    cli, url = tls_platform
    first = cli.paas("login", "--api", url, "--username", "carol", input=PASSWORD)
    assert authority.ca_fingerprint() in first.stderr and "Logged in as carol" in first.stdout
    ca_file = cli.home / ".config" / "paas" / "ca.pem"
    assert ca_file.read_text() == authority.ca_pem()
    # Verified against the kept CA from now on, with nothing more shown.
    again = cli.paas("login", "--api", url, "--username", "carol", input=PASSWORD)
    assert "fingerprint" not in again.stderr
    cli.paas("apps:create", "tlsapp", "--no-remote")
    assert "tlsapp" in cli.paas("apps").stdout
    git = cli.run("git", "config", "--global", "--get", f"http.{url}/.sslCAInfo")
    assert git.stdout.strip() == str(ca_file)
    assert "Logged out" in cli.paas("logout").stdout
    assert cli.run("git", "config", "--global", "--get", f"http.{url}/.sslCAInfo", ok=False).returncode == 1


def test_login_with_a_given_ca_file_and_never_with_another(tls_platform, tmp_path):
    cli, url = tls_platform
    given = tmp_path / "platform-ca.pem"
    given.write_text(authority.ca_pem())
    done = cli.paas("login", "--api", url, "--ca", str(given), "--username", "carol", input=PASSWORD)
    assert "fingerprint" not in done.stderr and "Logged in as carol" in done.stdout
    # A real CA that did not issue the platform's certificate: the handshake fails before the password goes.
    other, _ = make("someone else's CA", ca=True)
    given.write_text(pem(other))
    bad = cli.paas("login", "--api", url, "--ca", str(given), "--username", "carol", input=PASSWORD, ok=False)
    assert bad.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in bad.stderr and "Traceback" not in bad.stderr


def test_bad_ca_files_are_refused_before_any_connection(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    (tmp_path / "home").mkdir()
    cli = TlsCli(tmp_path / "home", hosts)
    leaf, _ = make("paas.localhost", names=["paas.localhost"])
    for content, message in ((b"not a certificate", "is not a PEM certificate"),
                             (pem(leaf).encode(), "is not a CA certificate"),
                             (b"-----BEGIN CERTIFICATE-----\n" + b"A" * 70_000, "larger than 64 KiB")):
        path = tmp_path / "bad.pem"
        path.write_bytes(content)
        bad = cli.paas("login", "--api", "https://paas.localhost:1", "--ca", str(path), "--username", "carol",
                       input=PASSWORD, ok=False)
        assert bad.returncode == 1 and message in bad.stderr and "Traceback" not in bad.stderr
