"""Custom domains are routed only once their DNS proves the claim.

The attack: a user adds a hostname that is not theirs and takes its traffic the moment
its DNS points at the platform. Replayed here with a DNS server of the test's own
(dnsmasq on a loopback port, PAAS_DNS_RESOLVERS pointed at it): the squatter's claim
stays pending and unrouted, the real owner verifies and wins, and lookups that fail or
time out answer a clear error.
"""

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.nameserver
import dns.resolver
import pytest

from paas.platform.control.routes import desired_table
from paas.platform.models import Domain, Event
from tests.platform.accounts import client_for, make_user

# Each test's Redis keys its own (login counts, wake channels), as in tests/platform.
pytestmark = pytest.mark.usefixtures("own_redis_keys")

DNSMASQ = shutil.which("dnsmasq", path="/usr/sbin:/usr/bin:/sbin:/bin")
HOST = "www.victim.example"


@pytest.fixture(autouse=True)
def no_outside_dns(settings):
    """Until a test starts its own DNS server, lookups go to a loopback port nobody answers:
    never to the system's resolvers (tests send no traffic off this machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        settings.PAAS_DNS_RESOLVERS = [("127.0.0.1", silent.getsockname()[1])]
        settings.PAAS_DNS_TIMEOUT_S = 0.5
        yield


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def dns_server(settings, records: dict[str, str]):
    """dnsmasq on a loopback port answering TXT ``records`` (and NXDOMAIN for the rest of .example)."""
    assert DNSMASQ, "dnsmasq is missing: make install (compose/bootstrap.sh) installs it"
    port = free_udp_port()
    argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
            "--pid-file=", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
            "--local=/example/", "--log-facility=-"]
    argv += [f"--txt-record={name},{value}" for name, value in records.items()]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready(port, server)
        settings.PAAS_DNS_RESOLVERS = [("127.0.0.1", port)]
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def ready(port: int, server: subprocess.Popen, timeout: float = 10) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    resolver.lifetime = 0.5
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dnsmasq exited: {server.stderr.read().decode(errors='replace')[-500:]}"
        try:
            resolver.resolve("nothing.example", "TXT")
        except dns.resolver.NXDOMAIN:
            return  # it answers
        except dns.exception.DNSException:
            continue
    raise AssertionError("dnsmasq did not answer in time")


def routed(hostname: str) -> str | None:
    hosts, _ = desired_table()
    return hosts.get(hostname)


def test_a_squatter_gets_no_route_and_the_real_owner_verifies_and_wins(as_alice, as_bob, settings):
    assert as_alice.post("/api/apps", {"name": "squat"}).status_code == 201
    assert as_bob.post("/api/apps", {"name": "owner"}).status_code == 201
    # The squatter claims first: pending, not routed, whatever DNS says.
    squat = as_alice.post("/api/apps/squat/domains", {"hostname": HOST})
    assert squat.status_code == 201 and squat.json_body["state"] == "pending"
    assert squat.json_body["record"]["name"] == f"_paas-verify.{HOST}"
    assert routed(HOST) is None
    # The real owner is not blocked by the pending claim.
    real = as_bob.post("/api/apps/owner/domains", {"hostname": HOST})
    assert real.status_code == 201 and real.json_body["record"]["value"] != squat.json_body["record"]["value"]
    with dns_server(settings, {f"_paas-verify.{HOST}": real.json_body["record"]["value"]}):
        wrong = as_alice.post(f"/api/apps/squat/domains/{HOST}/verify")
        assert wrong.status_code == 422
        assert "does not hold this app's token" in wrong.json_body["message"]
        assert squat.json_body["record"]["value"] in wrong.json_body["message"]  # the value to set
        assert real.json_body["record"]["value"] not in wrong.json_body["message"]  # never what DNS holds
        assert routed(HOST) is None
        verified = as_bob.post(f"/api/apps/owner/domains/{HOST}/verify")
        assert verified.status_code == 200, verified.json_body
        assert verified.json_body["state"] == "verified" and verified.json_body["verified_by"] == "dns"
        assert routed(HOST) == "owner"
        # Once verified, the hostname is the owner's: the squatter can neither verify nor add it again.
        again = as_alice.post(f"/api/apps/squat/domains/{HOST}/verify")
        assert again.status_code == 409 and "verified by another app" in again.json_body["message"]
    newcomer = client_for(make_user("mallory"))
    assert newcomer.post("/api/apps", {"name": "other"}).status_code == 201
    taken = newcomer.post("/api/apps/other/domains", {"hostname": HOST.upper() + "."})
    assert taken.status_code == 409 and "verified by another app" in taken.json_body["message"]
    assert Domain.objects.filter(hostname=HOST).count() == 2 and routed(HOST) == "owner"
    assert Event.objects.filter(action="domain.verify", app__name="owner").exists()
    # The owner lets it go: it stops routing, and the pending claim still needs its own record.
    assert as_bob.delete(f"/api/apps/owner/domains/{HOST}").status_code == 200
    assert routed(HOST) is None
    assert as_alice.get("/api/apps/squat/domains").json_body[0]["state"] == "pending"


def test_a_name_without_a_txt_record_fails_with_the_record_to_create(as_alice, settings):
    as_alice.post("/api/apps", {"name": "shop"})
    token = as_alice.post("/api/apps/shop/domains", {"hostname": "shop.acme.example"}).json_body["record"]["value"]
    with dns_server(settings, {"_paas-verify.other.acme.example": token}):
        response = as_alice.post("/api/apps/shop/domains/shop.acme.example/verify")
    assert response.status_code == 422
    assert response.json_body["message"].startswith("no TXT record at _paas-verify.shop.acme.example yet")
    assert token in response.json_body["message"]
    assert Domain.objects.get(hostname="shop.acme.example").verified_at is None


def test_hostile_txt_contents_are_compared_never_echoed(as_alice, settings):
    as_alice.post("/api/apps", {"name": "shop"})
    as_alice.post("/api/apps/shop/domains", {"hostname": "shop.acme.example"})
    junk = "<script>alert(1)</script>" + "A" * 200
    with dns_server(settings, {"_paas-verify.shop.acme.example": junk}):
        response = as_alice.post("/api/apps/shop/domains/shop.acme.example/verify")
    assert response.status_code == 422 and "1 other value(s) found" in response.json_body["message"]
    assert "script" not in response.content.decode() and "AAAA" not in response.content.decode()


def test_a_dns_timeout_answers_a_clear_error_and_changes_nothing(as_alice, settings):
    as_alice.post("/api/apps", {"name": "shop"})
    as_alice.post("/api/apps/shop/domains", {"hostname": "slow.acme.example"})
    # no_outside_dns pointed the resolvers at a loopback port that never answers, with a 0.5 s timeout.
    response = as_alice.post("/api/apps/shop/domains/slow.acme.example/verify")
    assert response.status_code == 503
    assert response.json_body["message"] == (
        "the DNS lookup of _paas-verify.slow.acme.example timed out after 0.5 s; try again in a moment")
    assert Domain.objects.get(hostname="slow.acme.example").verified_at is None
    assert not Event.objects.filter(action="domain.verify").exists()


def test_a_refusing_resolver_answers_a_clear_error(as_alice, settings):
    as_alice.post("/api/apps", {"name": "shop"})
    as_alice.post("/api/apps/shop/domains", {"hostname": "shop.elsewhere.test"})
    with dns_server(settings, {}):  # dnsmasq refuses names outside .example: it has no upstream
        response = as_alice.post("/api/apps/shop/domains/shop.elsewhere.test/verify")
    assert response.status_code == 503 and "no DNS server could answer" in response.json_body["message"]


def test_only_admins_route_a_domain_unverified_and_it_is_audited(as_alice, as_admin, alice):
    as_alice.post("/api/apps", {"name": "shop"})
    refused = as_alice.post("/api/apps/shop/domains", {"hostname": "now.acme.example", "skip_verification": True})
    assert refused.status_code == 403 and not Domain.objects.exists()
    odd = as_alice.post("/api/apps/shop/domains", {"hostname": "now.acme.example", "skip_verification": "yes"})
    assert odd.status_code == 422 and not Domain.objects.exists()
    # A pending claim of the app's own can be routed by an admin, too.
    as_alice.post("/api/apps/shop/domains", {"hostname": "now.acme.example"})
    assert routed("now.acme.example") is None
    done = as_admin.post("/api/apps/shop/domains", {"hostname": "now.acme.example", "skip_verification": True})
    assert done.status_code == 201 and done.json_body["verified_by"] == "admin"
    assert routed("now.acme.example") == "shop"
    event = Event.objects.get(action="domain.add", data__skip_verification=True)
    assert event.actor_name == "root-admin" and event.app.name == "shop"
    assert "without DNS verification by an admin" in event.message


@pytest.mark.parametrize("hostname", [
    "*.acme.example", "acme", "-acme.example", "a_b.example", "10.0.0.1", "x" * 64 + ".example",
    ("a" * 63 + ".") * 3 + "d" * 49, "a\x00b.example", "a\ud800.example", "xn--zz.example", "shop.localhost",
    "localhost", "", None, 7, ["a.example"], "a" * 100_000,
])
def test_bad_hostnames_are_refused_and_nothing_is_written(as_alice, hostname):
    as_alice.post("/api/apps", {"name": "shop"})
    raw = None
    if isinstance(hostname, str) and "\ud800" in hostname:
        raw = b'{"hostname": "a\\ud800.example"}'  # a lone surrogate, as JSON carries it
    response = as_alice.post("/api/apps/shop/domains", {"hostname": hostname}, raw=raw)
    assert response.status_code == 422, response.json_body
    assert "\x00" not in response.json_body["message"] and len(response.json_body["message"]) < 300
    assert not Domain.objects.exists()


def test_international_names_are_stored_as_a_labels(as_alice, settings):
    as_alice.post("/api/apps", {"name": "shop"})
    response = as_alice.post("/api/apps/shop/domains", {"hostname": "Bücher.Example"})
    assert response.status_code == 201 and response.json_body["hostname"] == "xn--bcher-kva.example"
    token = response.json_body["record"]["value"]
    with dns_server(settings, {"_paas-verify.xn--bcher-kva.example": token}):
        assert as_alice.post("/api/apps/shop/domains/bücher.example/verify").status_code == 200
    assert routed("xn--bcher-kva.example") == "shop"


def test_the_cli_prints_the_record_shows_the_state_and_verifies(live_server, tmp_path, settings, alice):
    paas = str(Path(sys.executable).with_name("paas"))
    client = client_for(alice)
    client.post("/api/apps", {"name": "shop"})
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PAAS_API_URL": live_server.url,
           "PAAS_TOKEN": client.headers["HTTP_AUTHORIZATION"].split()[1]}

    def cli(*args, ok=True):
        result = subprocess.run([paas, *args, "-a", "shop"], capture_output=True, text=True, env=env, timeout=60)
        assert (result.returncode == 0) == ok, result.stderr
        return result

    added = cli("domains:add", "www.shop.example").stdout
    token = Domain.objects.get(hostname="www.shop.example").token
    assert f'_paas-verify.www.shop.example  TXT  "{token}"' in added
    assert "paas domains:verify www.shop.example -a shop" in added
    listing = cli("domains").stdout
    assert "pending" in listing and token in listing
    with dns_server(settings, {"_paas-verify.elsewhere.shop.example": token}):
        missing = cli("domains:verify", "www.shop.example", ok=False)
    assert "no TXT record at _paas-verify.www.shop.example yet" in missing.stderr
    with dns_server(settings, {"_paas-verify.www.shop.example": token}):
        assert "Verified www.shop.example" in cli("domains:verify", "www.shop.example").stdout
    listing = cli("domains").stdout
    assert "verified" in listing and token not in listing
    refused = cli("domains:add", "api.shop.example", "--skip-verification", ok=False)
    assert "only platform admins" in refused.stderr


def test_two_apps_verifying_at_once_one_wins_and_the_other_gets_409(alice, bob):
    """The race replayed step by step: both claims pass the check before DNS, both TXT lookups
    succeed, and the database lets only the first confirmation through."""
    from paas.platform.actions.apps import create_app
    from paas.platform.actions.domains import add_domain, claim_to_verify, confirm_domain
    from paas.platform.exceptions import Conflict

    first, second = create_app(alice, "first"), create_app(bob, "second")
    claims = [add_domain(alice, first, HOST), add_domain(bob, second, HOST)]
    checked = [claim_to_verify(first, HOST), claim_to_verify(second, HOST)]  # neither is verified yet
    assert confirm_domain(alice, checked[0], [claims[0].token]).state == "verified"
    with pytest.raises(Conflict, match="just verified by another app"):
        confirm_domain(bob, checked[1], [claims[1].token])
    assert routed(HOST) == "first"
    assert Domain.objects.get(app=second).verified_at is None
