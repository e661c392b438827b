"""The real ``paas`` entry point, as a subprocess, against a live API server."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from paas.platform.actions.releases import create_release
from paas.platform.models import App, Build, Release
from tests.platform.accounts import make_user

PAAS = str(Path(sys.executable).with_name("paas"))


class Cli:
    def __init__(self, home: Path, api_url: str):
        self.home = home
        self.api_url = api_url
        self.cwd = home

    def env(self, extra=None):
        env = {
            "HOME": str(self.home),
            "PATH": os.environ["PATH"],
            "PAAS_API_URL": self.api_url,
            "GIT_CONFIG_NOSYSTEM": "1",
            "PYTHONSAFEPATH": "1",
        }
        return {**env, **(extra or {})}

    def run(self, *args, input=None, env=None, ok=True):
        result = subprocess.run(
            [PAAS, *args], capture_output=True, text=True, input=input, cwd=self.cwd, env=self.env(env), timeout=60
        )
        if ok:
            assert result.returncode == 0, f"paas {' '.join(args)} failed: {result.stderr}"
        return result

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def cli(live_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    make_user("carol")
    return Cli(home, live_server.url)


def test_login_with_password_stores_a_private_token_for_cli_and_git(cli):
    result = cli.run("login", input=f"{cli.api_url}\ncarol\ncorrect-horse-battery\n", env={"PAAS_API_URL": ""})
    assert "Logged in as carol" in result.stdout
    netrc = cli.home / ".netrc"
    assert stat.S_IMODE(netrc.stat().st_mode) == 0o600
    assert "machine 127.0.0.1 login carol password paas_" in netrc.read_text()
    assert cli.run("whoami").stdout.startswith("user:")
    assert cli.json("whoami")["username"] == "carol"


def test_wrong_password_fails_cleanly(cli):
    result = cli.run("login", "--api", cli.api_url, input="carol\nwrong\n", ok=False)
    assert result.returncode == 1
    assert "wrong username or password" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cli.home / ".netrc").exists()


def test_commands_without_login_say_so(cli):
    result = cli.run("apps", ok=False)
    assert result.returncode == 1 and "paas login" in result.stderr


def test_token_from_environment_is_honoured(cli):
    token = cli_login_token(cli)
    (cli.home / ".netrc").unlink()
    result = cli.run("whoami", "--json", env={"PAAS_TOKEN": token})
    assert json.loads(result.stdout)["username"] == "carol"


def logged_in_cli(live_server, home: Path, username: str = "carol", admin: bool = False) -> Cli:
    """A user made here and logged in with `paas login` (the token in home's .netrc)."""
    home.mkdir(parents=True, exist_ok=True)
    make_user(username, admin=admin)
    cli = Cli(home, live_server.url)
    cli.run("login", "--api", cli.api_url, "--username", username, input="correct-horse-battery\n")
    return cli


def cli_login_token(cli) -> str:
    cli.run("login", "--api", cli.api_url, "--username", "carol", input="correct-horse-battery\n")
    line = (cli.home / ".netrc").read_text().split()
    return line[line.index("password") + 1]


def test_full_flow_create_config_releases_rollback(cli):
    cli_login_token(cli)
    repo = cli.home / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    cli.cwd = repo
    created = cli.run("apps:create", "demo")
    assert "Created demo" in created.stdout
    remote = subprocess.run(["git", "remote", "get-url", "paas"], cwd=repo, capture_output=True, text=True)
    assert remote.stdout.strip().endswith("/demo.git")
    assert "v2" in cli.run("config:set", "A=1", "B=x=y").stdout
    assert cli.run("config:get", "B").stdout == "x=y\n"
    assert cli.json("config") == {"A": "1", "B": "x=y"}
    listing = cli.run("releases").stdout
    assert "v2" in listing and "v1" in listing and "Set A, B config vars" in listing
    assert "Rollback to v1 as v3" in cli.run("rollback", "v1").stdout
    assert cli.json("config") == {}
    assert [r["version"] for r in cli.json("releases")] == [3, 2, 1]
    assert cli.run("config:unset", "A", ok=False).returncode == 1


def test_app_from_flag_and_errors(cli):
    cli_login_token(cli)
    cli.run("apps:create", "flagged", "--no-remote")
    assert cli.json("apps:info", "-a", "flagged")["name"] == "flagged"
    missing_app = cli.run("config", ok=False)
    assert missing_app.returncode == 1 and "-a NAME" in missing_app.stderr
    bad_name = cli.run("apps:create", "Bad_Name", ok=False)
    assert bad_name.returncode == 1 and "app name" in bad_name.stderr
    duplicate = cli.run("apps:create", "flagged", ok=False)
    assert "already exists" in duplicate.stderr
    bad_pair = cli.run("config:set", "-a", "flagged", "NOVALUE", ok=False)
    assert "KEY=VALUE" in bad_pair.stderr
    bad_key = cli.run("config:set", "-a", "flagged", "1X=2", ok=False)
    assert "environment variable name" in bad_key.stderr
    usage = cli.run("ps:scale", "-a", "flagged", ok=False)
    assert usage.returncode == 2
    assert "Traceback" not in bad_key.stderr + usage.stderr


def test_scale_domains_access_tokens(cli):
    cli_login_token(cli)
    make_user("dave")
    cli.run("apps:create", "busy", "--no-remote")
    app = App.objects.get(name="busy")
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, process_types={"web": "x", "worker": "y"})
    create_release(app, user=app.owner, build=build, config=app.latest_release().config, summary="Deploy")
    assert "web=2:small, worker=1:medium" in cli.run("ps:scale", "-a", "busy", "web=2", "worker=1:medium").stdout
    assert "web=3:small" in cli.run("ps:scale", "-a", "busy", "web=+1").stdout
    assert "web=2:small" in cli.run("ps:scale", "-a", "busy", "web=-1").stdout
    below = cli.run("ps:scale", "-a", "busy", "web=-3", ok=False)
    assert below.returncode == 1 and "2 -3 is -1, outside 0 to" in below.stderr
    assert "Traceback" not in below.stderr
    assert "unknown process type" in cli.run("ps:scale", "-a", "busy", "clock=1", ok=False).stderr
    assert "web" in cli.run("ps", "-a", "busy").stdout
    assert "Stopped web of busy" in cli.run("ps:stop", "-a", "busy", "web").stdout
    assert cli.json("ps", "-a", "busy")["formation"][0]["stopped"] is True
    assert "Started all processes" in cli.run("ps:start", "-a", "busy").stdout
    assert "Restarting worker" in cli.run("ps:restart", "-a", "busy", "worker").stdout
    assert "unknown process type" in cli.run("ps:restart", "-a", "busy", "clock", ok=False).stderr
    cli.run("domains:add", "-a", "busy", "www.busy.example")
    assert "www.busy.example" in cli.run("domains", "-a", "busy").stdout
    cli.run("domains:remove", "-a", "busy", "www.busy.example")
    cli.run("access:add", "-a", "busy", "dave")
    assert "dave" in cli.run("access", "-a", "busy").stdout
    cli.run("access:remove", "-a", "busy", "dave")
    created = cli.json("tokens:create", "--description", "ci", "--scope", "read")
    assert created["scopes"] == ["read"]
    cli.run("tokens:revoke", str(created["id"]))
    revoked = cli.run("whoami", env={"PAAS_TOKEN": created["token"]}, ok=False)
    assert "revoked" in revoked.stderr


def test_destroy_requires_confirm(cli):
    cli_login_token(cli)
    cli.run("apps:create", "gone", "--no-remote")
    refused = cli.run("apps:destroy", "gone", ok=False)
    assert "--confirm gone" in refused.stderr
    assert App.objects.filter(name="gone").exists()
    cli.run("apps:destroy", "gone", "--confirm", "gone")
    assert not App.objects.filter(name="gone").exists()
    assert not Release.objects.filter(app__name="gone").exists()


def test_permissions_between_users_through_the_cli(cli, tmp_path):
    cli_login_token(cli)
    cli.run("apps:create", "carols", "--no-remote")
    make_user("mallory")
    mallory = Cli(tmp_path, cli.api_url)
    mallory.run("login", "--api", cli.api_url, "--username", "mallory", input="correct-horse-battery\n")
    denied = mallory.run("config:set", "-a", "carols", "X=1", ok=False)
    assert denied.returncode == 1 and "access" in denied.stderr
    assert mallory.json("apps") == []


def test_unreachable_api_is_a_clear_error(tmp_path):
    cli = Cli(tmp_path, "http://127.0.0.1:9")
    result = cli.run("apps", env={"PAAS_TOKEN": "paas_x"}, ok=False)
    assert result.returncode == 1 and "cannot reach the paas API" in result.stderr


def test_logs_show_platform_lines_and_maintenance_toggles(cli):
    cli_login_token(cli)
    cli.run("apps:create", "logged", "--no-remote")
    cli.run("config:set", "-a", "logged", "A=1")
    out = cli.run("logs", "-a", "logged", "-n", "10").stdout
    assert "platform[platform]: created app logged (by carol)" in out
    assert "v2: Set A config var" in out
    assert cli.run("logs", "-a", "logged", "--source", "app").stdout == ""
    assert "Maintenance mode is on" in cli.run("maintenance:on", "-a", "logged").stdout
    assert cli.json("apps:info", "-a", "logged")["maintenance"] is True
    cli.run("maintenance:off", "-a", "logged")
    assert cli.run("logs", "-a", "logged", "-n", "0", ok=False).returncode == 1


def test_events_of_a_recreated_app_through_the_cli(cli, tmp_path, settings):
    settings.PAAS_DATA_DIR = tmp_path / "data"  # the destroy removes the app's files: this test's, not the checkout's
    cli_login_token(cli)
    cli.run("apps:create", "reused", "--no-remote")
    cli.run("config:set", "-a", "reused", "OLD_SECRET_KEY=1")
    cli.run("apps:destroy", "reused", "--confirm", "reused")
    make_user("dave")
    dave = Cli(tmp_path, cli.api_url)
    dave.run("login", "--api", cli.api_url, "--username", "dave", input="correct-horse-battery\n")
    dave.run("apps:create", "reused", "--no-remote")
    shown = dave.run("events", "-a", "reused").stdout
    assert "created app reused" in shown and "OLD_SECRET_KEY" not in shown and "destroyed" not in shown
    assert "OLD_SECRET_KEY" not in dave.run("logs", "-a", "reused").stdout
    admin = make_user("auditor", admin=True)
    from paas.platform.actions.tokens import issue_token

    audit = cli.run("events", "-a", "reused", env={"PAAS_TOKEN": issue_token(admin)[1]}).stdout
    assert "OLD_SECRET_KEY" in audit and "reused (destroyed)" in audit
    ids = {row["app_id"] for row in json.loads(cli.run("events", "-a", "reused", "--json",
                                                       env={"PAAS_TOKEN": issue_token(admin)[1]}).stdout)}
    assert len(ids) == 2 and App.objects.get(name="reused").pk in ids  # the destroyed app's id and the new one's


def test_certs_ca_prints_the_platform_ca_without_login(cli):
    from cryptography import x509

    from paas.pki import authority

    result = cli.run("certs:ca")
    cert = x509.load_pem_x509_certificate(result.stdout.encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert result.stdout == authority.ca_pem()
    assert f"SHA-256 fingerprint: {authority.ca_fingerprint()}" in result.stderr


def test_certs_add_list_info_remove_with_files(cli):
    from django.utils import timezone

    from paas.platform.models import Domain
    from tests.pki.certmaker import chain, key_pem, pem

    cli_login_token(cli)
    cli.run("apps:create", "shop", "--no-remote")
    cli.run("domains:add", "-a", "shop", "www.shop.example")
    _, middle, (leaf, key) = chain("www.shop.example")
    (cli.home / "cert.pem").write_text(pem(leaf) + pem(middle[0]))
    (cli.home / "key.pem").write_text(key_pem(key))
    unverified = cli.run("certs:add", "-a", "shop", "cert.pem", "key.pem", ok=False)
    assert unverified.returncode == 1 and "covers no verified domain of shop" in unverified.stderr
    Domain.objects.filter(hostname="www.shop.example").update(verified_at=timezone.now(), verified_by=Domain.BY_DNS)
    swapped = cli.run("certs:add", "-a", "shop", "key.pem", "cert.pem", ok=False)
    assert "CERT holds a private key" in swapped.stderr and "Traceback" not in swapped.stderr
    missing = cli.run("certs:add", "-a", "shop", "nothing.pem", "key.pem", ok=False)
    assert "cannot read CERT file nothing.pem" in missing.stderr
    added = cli.run("certs:add", "-a", "shop", "cert.pem", "key.pem").stdout
    assert "serves www.shop.example" in added and "days)" in added
    name = cli.json("certs", "-a", "shop")[0]["name"]
    assert name in cli.run("certs", "-a", "shop").stdout
    assert "Fingerprint:" in cli.run("certs:info", "-a", "shop", name).stdout
    cli.run("certs:remove", "-a", "shop", name)
    assert "No certificates" in cli.run("certs", "-a", "shop").stdout
