"""`paas registry:login`: an app's credentials for a registry that asks for one (docker-registry with
htpasswd, over the seeded registry's storage), checked before kept, sealed, never shown back, used by
deploy:image and by a Dockerfile's FROM pulls (both go through runtime/registry.pull)."""


import pytest

from paas.platform import sealing
from paas.platform.exceptions import Conflict
from paas.platform.models import RegistryLogin, Release
from paas.runtime import registry
from paas.runtime.errors import ImageError
from tests.platform.test_cli import Cli, cli_login_token, make_user
from tests.platform.test_image_deploys import forget_images  # noqa: F401 - the fixture
from tests.registry import LOGIN



def test_challenges_are_read_with_their_parameters():
    assert registry.parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="a:b:pull"') == (
        "bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "a:b:pull"})
    assert registry.parse_challenge('Basic realm="paas-tests"') == ("basic", {"realm": "paas-tests"})
    assert "secret" not in repr(registry.Login("user", "secret"))


def test_a_token_service_elsewhere_is_refused(monkeypatch):
    """A registry naming a token service the platform may not reach gets no credentials sent there."""
    monkeypatch.setenv("PAAS_REGISTRY_ALLOW", "127.0.0.1:5999")
    session = registry.Session(None, "127.0.0.1:5999", registry.Login("u", "p"))
    with pytest.raises(ImageError, match="sends its login to 10.1.2.3:80"):
        session._answer('Bearer realm="http://10.1.2.3:80/token",service="x"')
    with pytest.raises(ImageError, match="asks for a login"):
        registry.Session(None, "127.0.0.1:5999", None)._answer('Basic realm="x"')


def test_sealed_secrets_open_only_with_their_key_and_purpose(settings):
    sealed = sealing.seal("registry login", "hunter2-token")
    assert "hunter2" not in sealed and sealing.unseal("registry login", sealed) == "hunter2-token"
    with pytest.raises(Conflict, match="PAAS_SECRET_KEY"):
        sealing.unseal("another purpose", sealed)
    settings.SECRET_KEY = "a-rotated-key"
    with pytest.raises(Conflict, match="log in again"):
        sealing.unseal("registry login", sealed)


def test_pulls_log_in_where_the_registry_asks(allow_login_registry, tmp_path):
    ref = f"{allow_login_registry}/paas/probe:1"
    with pytest.raises(ImageError, match=f"registry {allow_login_registry} asks for a login "
                                         rf"\(paas registry:login {allow_login_registry}\)"):
        registry.pull(ref, tmp_path / "a.tar")
    wrong = {allow_login_registry: registry.Login(LOGIN[0], "not-the-password")}
    with pytest.raises(ImageError, match=f"registry {allow_login_registry} refused the login of 'paas-puller'"):
        registry.pull(ref, tmp_path / "b.tar", wrong)
    assert not (tmp_path / "b.tar").exists()
    registry.pull(ref, tmp_path / "c.tar", {allow_login_registry: registry.Login(*LOGIN)})
    assert (tmp_path / "c.tar").stat().st_size > 0


@pytest.mark.usefixtures("forget_images")
def test_registry_login_is_checked_sealed_hidden_and_used(as_alice, as_bob, allow_login_registry):
    address = allow_login_registry
    as_alice.post("/api/apps", {"name": "privpull"})
    login = lambda username, password, host=address: as_alice.post(  # noqa: E731
        "/api/apps/privpull/registry-logins", {"registry": host, "username": username, "password": password})

    refused = login(LOGIN[0], "wrong-password")
    assert refused.status_code == 422 and f"registry {address} refused the login" in refused.json_body["message"]
    for host, password, message in (("10.9.9.9:5000", LOGIN[1], "PAAS_REGISTRY_ALLOW"),
                                    ("bad host;", LOGIN[1], "not a registry address"),
                                    (address, "", "give the password or token"),
                                    (address, "a\nb", "printable")):
        answer = login(LOGIN[0], password, host)
        assert answer.status_code == 422 and message in answer.json_body["message"], (host, answer.json_body)
    assert not RegistryLogin.objects.exists()
    pulled = as_alice.post("/api/apps/privpull/images/pull", {"image": f"{address}/paas/probe:1"})
    assert pulled.status_code == 422 and "paas registry:login" in pulled.json_body["message"]

    assert login(*LOGIN).status_code == 201
    row = RegistryLogin.objects.get(app__name="privpull")
    assert LOGIN[1] not in row.sealed_secret and row.username == LOGIN[0]
    listed = as_alice.get("/api/apps/privpull/registry-logins").json_body
    assert [(e["registry"], e["username"], sorted(e)) for e in listed] == [
        (address, LOGIN[0], ["registry", "updated_at", "username"])]
    assert as_bob.get("/api/apps/privpull/registry-logins").status_code == 403  # not bob's app
    pulled = as_alice.post("/api/apps/privpull/images/pull", {"image": f"{address}/paas/probe:1"})
    assert pulled.status_code == 201, pulled.json_body
    assert Release.objects.filter(app__name="privpull").count() == 2

    assert as_alice.delete(f"/api/apps/privpull/registry-logins/{address}").status_code == 200
    assert not RegistryLogin.objects.exists()


def test_cli_registry_login_reads_stdin_and_names_the_registry(live_server, tmp_path, allow_login_registry):
    address = allow_login_registry
    cli = Cli(tmp_path, live_server.url)
    make_user("carol")
    cli_login_token(cli)
    cli.run("apps:create", "clipull")
    bad = cli.run("registry:login", "-a", "clipull", address, input=f"{LOGIN[0]}\nwrong\n", ok=False)
    assert bad.returncode == 1 and f"registry {address} refused the login" in bad.stderr
    assert "Traceback" not in bad.stderr and "wrong" not in bad.stderr
    half = cli.run("registry:login", "-a", "clipull", address, input=f"{LOGIN[0]}\n", ok=False)
    assert half.returncode == 1 and "password or token on the second" in half.stderr
    out = cli.run("registry:login", "-a", "clipull", address, input=f"{LOGIN[0]}\n{LOGIN[1]}\n").stdout
    assert f"Logged clipull in to {address} as {LOGIN[0]}" in out
    listed = cli.run("registry", "-a", "clipull").stdout
    assert address in listed and LOGIN[0] in listed and LOGIN[1] not in listed
    assert "Logged clipull out" in cli.run("registry:logout", "-a", "clipull", address).stdout


def test_registry_logins_are_throttled_per_account(as_alice, as_bob, allow_login_registry, settings, own_redis_keys):
    """The platform checks a registry password for the caller: failures count against the caller's account
    as password logins do, so it cannot be used to guess a registry's passwords."""
    settings.PAAS_LOGIN_MAX_FAILURES = 2
    address = allow_login_registry
    for client, app in ((as_alice, "guessing"), (as_bob, "honest")):
        client.post("/api/apps", {"name": app})
    guess = lambda client, app, password: client.post(  # noqa: E731
        f"/api/apps/{app}/registry-logins", {"registry": address, "username": LOGIN[0], "password": password})
    assert [guess(as_alice, "guessing", f"guess-{n}").status_code for n in range(2)] == [422, 422]
    locked = guess(as_alice, "guessing", LOGIN[1])   # even the right one, once locked
    assert locked.status_code == 429 and "too many failed registry logins" in locked.json_body["message"]
    assert not RegistryLogin.objects.exists()
    assert guess(as_bob, "honest", LOGIN[1]).status_code == 201   # another account is not locked
