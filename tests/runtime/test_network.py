"""Network modes: none (loopback only), host, bridge with isolation between apps."""

import socket
import urllib.request

from paas.runtime import ipam

from .conftest import wait_for

CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print("refused", type(e).__name__)
"""
SERVER = ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8080"]


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
