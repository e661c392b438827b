"""Network modes: none (loopback only), host, bridge with isolation between apps."""

import ipaddress
import socket
import urllib.request

import pytest

from paas.runtime import ipam

from .conftest import CONNECT, SERVER, wait_for


def test_none_has_loopback_only(runner):
    result = runner(["--network", "none", "--", "sh", "-c", "ls /sys/class/net; python3 -c '%s' 127.0.0.1 6379" % CONNECT.replace("'", '"')])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "lo" and "eth0" not in lines
    assert "refused" in result.stdout  # the host's Redis is not on this loopback


def test_host_shares_the_host_network(runner):
    result = runner(["--network", "host", "--", "python3", "-c", CONNECT, "127.0.0.1", "6379"])
    assert result.returncode == 0, result.stderr
    assert "connected" in result.stdout


def _http_ok(address):
    def probe():
        try:
            return urllib.request.urlopen(f"http://{address}:8080/", timeout=1).status == 200
        except OSError:
            return False
    return probe


def test_bridge_instance_is_reachable_from_the_host(detached):
    c = detached(SERVER, network="bridge", app="web-a")
    address = c.record.network["address"]
    assert address in str(ipam.pool()) or address.startswith("10.")
    wait_for(_http_ok(address), what="http server in the bridge")


def test_bridge_isolates_apps_from_each_other_and_the_host(detached):
    server = detached(SERVER, network="bridge", app="app-a")
    wait_for(_http_ok(server.record.network["address"]), what="app-a serving")
    # A listener on the host, on every address, stands in for PostgreSQL/Redis/the API.
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        other = detached(["sh", "-c", (
            f"python3 -c '{CONNECT}' {server.record.network['address']} 8080; "
            f"python3 -c '{CONNECT}' {ipam.gateway()} {port}").replace("\n", "\n")], network="bridge", app="app-b")
        assert other.wait(20)
        out = (other.dir / "stdout.log").read_text().split("\n")
    finally:
        listener.close()
    assert out[0].startswith("refused"), out
    assert out[1].startswith("refused"), out


def test_addresses_are_unique_and_released(detached):
    a = detached(["sleep", "30"], network="bridge")
    b = detached(["sleep", "30"], network="bridge")
    assert a.record.network["address"] != b.record.network["address"]
    a.stop(grace=0.2)
    a.remove()
    assert a.id not in ipam.owners()
    assert b.id in ipam.owners()


@pytest.fixture
def small_segments(monkeypatch):
    """A pool of two bridges of five instances each (a /28 cut into /29s), removed afterwards."""
    import subprocess

    from paas.runtime import config

    monkeypatch.setattr(config, "BRIDGE", "paastseg0")
    monkeypatch.setattr(config, "ADDRESS_POOL", "10.216.0.0/28")
    monkeypatch.setenv("PAAS_BRIDGE_PREFIX", "29")
    yield
    for bridge in ("paastseg0", "paastseg0x1"):
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        for rule in rules.splitlines():
            if "paastseg0+" in rule and rule.startswith("-A "):
                subprocess.run(["iptables", "-w", "-t", table, "-D", *rule.split()[1:]], capture_output=True)


def test_a_full_bridge_spills_onto_the_next_one_isolated_from_it(small_segments, detached):
    first = [detached(["sleep", "30"], network="bridge") for _ in range(5)]
    assert {c.record.network["gateway"] for c in first} == {"10.216.0.1"}
    server = detached(SERVER, network="bridge", app="spilled")
    assert server.record.network["gateway"] == "10.216.0.9"  # the second bridge's segment
    assert ipam.segment_of(ipaddress.ip_address(server.record.network["address"])).bridge == "paastseg0x1"
    wait_for(_http_ok(server.record.network["address"]), what="the instance on the second bridge serving")
    first[0].stop(grace=0.2)
    first[0].remove()
    probe = detached(["python3", "-c", CONNECT, server.record.network["address"], "8080"], network="bridge")
    assert probe.record.network["gateway"] == "10.216.0.1"  # the freed place on the first bridge
    assert probe.wait(20)
    assert (probe.dir / "stdout.log").read_text().startswith("refused")
