"""Network modes: none (loopback only), host, bridge with isolation between apps."""

import ipaddress
import os
import socket
import subprocess
import urllib.request

import pytest

from paas.runtime import ipam

from .conftest import CONNECT, SERVER, wait_for


@pytest.fixture
def host_listener():
    """A port listening on the host's loopback for the duration of a test (its own, not
    a service's: the suite's Redis is not on 6379 when make test starts private servers)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_none_has_loopback_only(runner, host_listener):
    result = runner(["--network", "none", "--", "sh", "-c",
                     "ls /sys/class/net; python3 -c '%s' 127.0.0.1 %d" % (CONNECT.replace("'", '"'), host_listener)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "lo" and "eth0" not in lines
    assert "refused" in result.stdout  # the host's listener is not on this loopback


def test_host_shares_the_host_network(runner, host_listener):
    result = runner(["--network", "host", "--", "python3", "-c", CONNECT, "127.0.0.1", str(host_listener)])
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
    from paas.runtime import config

    monkeypatch.setattr(config, "BRIDGE", "paastseg0")
    monkeypatch.setattr(config, "ADDRESS_POOL", "10.216.0.0/28")
    monkeypatch.setenv("PAAS_BRIDGE_PREFIX", "29")
    yield
    from paas.runtime import firewall, network

    for index in (0, 1):
        network.remove_bridge(ipam.segment(index))
    firewall.remove_rules()


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


# -- DNS and egress: builds and instances on a bridge of the test's own, "the outside" a namespace --



def test_bridge_containers_resolve_names_through_the_bridge_forwarder(sandbox, outside, host_stack):
    from tests.netsandbox import DNS_NAME, run_in_build, run_in_instance

    _, segment = sandbox
    lines = run_in_instance(host_stack, f"dns:{DNS_NAME}")
    assert lines == [f"dns {DNS_NAME} {outside.address}"]
    assert run_in_build(f"dns:{DNS_NAME}") == [f"dns {DNS_NAME} {outside.address}"]
    # The forwarder listens on the gateway only, not on the host's other addresses.
    listening = subprocess.run(["ss", "-lnuH", "sport", "=", ":53"], capture_output=True, text=True).stdout
    assert f"{segment.gateway}:53" in listening


def test_instance_resolv_conf_names_the_gateway(sandbox, host_stack):
    from paas.runtime import container
    from paas.runtime.spec import ContainerSpec

    _, segment = sandbox
    spec = ContainerSpec(command=("cat", "/etc/resolv.conf"), layers=host_stack.layers, binds=host_stack.binds,
                         network="bridge", id=f"rc{os.getpid()}")
    c = container.create(spec)
    try:
        assert (c.dir / "etclayer" / "etc" / "resolv.conf").read_text().startswith(f"nameserver {segment.gateway}\n")
    finally:
        container.release(spec.id)


def test_egress_reaches_the_outside_through_nat_where_allowed(sandbox, outside, host_stack):
    from paas.runtime import config
    from tests.netsandbox import run_in_build, run_in_instance

    mp, _ = sandbox
    target = f"tcp:{outside.address}:8080"
    # A private range is refused by default (PAAS_EGRESS_DENY)...
    assert run_in_instance(host_stack, target)[0].startswith(f"tcp {outside.address}:8080 refused")
    # ...unless the admin allows it (PAAS_EGRESS_ALLOW): the rules follow at the next attach.
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    assert run_in_instance(host_stack, target) == [f"tcp {outside.address}:8080 connected"]
    assert run_in_build(target) == [f"tcp {outside.address}:8080 connected"]


def test_egress_deny_cuts_a_running_instance_off_and_allow_gives_it_back(sandbox, outside, detached):
    from paas.runtime import config, network
    from tests.netsandbox import DNS_NAME, PROBE, wait_for as wait

    mp, _ = sandbox
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    loop = (f"while true; do python3 -c '{PROBE}' tcp:{outside.address}:8080 dns:{DNS_NAME}; "
            "echo round; sleep 0.2; done")
    assert "'" not in PROBE
    c = detached(["sh", "-c", loop], network="bridge", user="app")
    log = c.dir / "stdout.log"

    def rounds_after(offset):
        text = log.read_text()[offset:]
        return text.split("round\n")[1:-1] or None  # whole rounds only

    first = wait(lambda: rounds_after(0), what="a first round")[0]
    assert "connected" in first and f"dns {DNS_NAME} {outside.address}" in first
    network.set_egress(c.record.network, False)
    mark = len(log.read_text())
    denied = wait(lambda: rounds_after(mark), what="a round after egress:deny")[0]
    assert "refused" in denied and f"dns {DNS_NAME} failed" in denied, denied
    network.set_egress(c.record.network, True)
    mark = len(log.read_text())
    again = wait(lambda: rounds_after(mark), what="a round after egress:allow")[0]
    assert "connected" in again and f"dns {DNS_NAME} {outside.address}" in again, again
    assert c.is_running()  # the same instance all along: no restart


@pytest.mark.parametrize("name,value", [("PAAS_EGRESS_DENY", "10.0.0.0/8,nonsense"),
                                        ("PAAS_EGRESS_ALLOW", "10.0.0.1/8"),  # host bits set
                                        ("PAAS_DNS_UPSTREAM", "10.0.0.1;rm -rf /")])
def test_bad_network_settings_stop_the_runtime_naming_the_variable(name, value):
    import sys

    result = subprocess.run([sys.executable, "-c", "import paas.runtime.config"], capture_output=True, text=True,
                            env={**os.environ, name: value})
    assert result.returncode != 0
    assert f"RuntimeLayerError: {name}=" in result.stderr


HOLD = """
import socket, sys, time
address = sys.argv[1]
held = socket.create_connection((address, 8080), timeout=3)
print("held", flush=True)
while True:  # until new connections fail: the deny is in force
    try:
        socket.create_connection((address, 8080), timeout=1).close()
        time.sleep(0.1)
    except OSError:
        break
print("denied", flush=True)
try:
    held.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    print("old connection", "works" if held.recv(100) else "closed", flush=True)
except OSError as exc:
    print("old connection cut", type(exc).__name__, flush=True)
"""


def test_egress_deny_also_cuts_connections_opened_before_it(sandbox, outside, detached):
    """Rejected twice over: conntrack starts in the namespace with the deny rules, so an
    older connection's next packet is NEW to it, and ESTABLISHED passes only as a reply."""
    from paas.runtime import config, network

    mp, _ = sandbox
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    c = detached(["python3", "-c", HOLD, outside.address], network="bridge", user="app")
    log = c.dir / "stdout.log"
    wait_for(lambda: "held" in log.read_text(), what="a connection held open")
    network.set_egress(c.record.network, False)
    assert c.wait(30)
    assert log.read_text().splitlines()[1:] == ["denied", "old connection cut TimeoutError"], log.read_text()


# -- netlink: the requests attach makes, and what a refused one leaves ----------------------------

def _attrs(data: bytes) -> dict[int, bytes]:
    """Route attributes by type (the last of a type wins), as the kernel would read them."""
    import struct

    found, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        found[kind] = data[offset + 4:offset + length]
        offset += length + (-length % 4)
    return found


def test_a_veth_request_puts_the_peer_in_the_namespace_with_its_address_and_the_near_end_on_the_bridge():
    import struct

    from paas.runtime import netlink

    body = netlink.veth_pair("vpabc", "eth0", 7, b"\x02\x42\x0a\xd7\x00\x05", master=42)
    top = _attrs(body[16:])  # after the ifinfomsg
    assert top[netlink.IFLA_IFNAME] == b"vpabc\0"
    assert struct.unpack("=I", top[netlink.IFLA_MASTER]) == (42,)
    info = _attrs(top[netlink.IFLA_LINKINFO])
    assert info[netlink.IFLA_INFO_KIND] == b"veth\0"
    peer = _attrs(_attrs(info[netlink.IFLA_INFO_DATA])[netlink.VETH_INFO_PEER][16:])
    assert peer[netlink.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", peer[netlink.IFLA_NET_NS_FD]) == (7,)
    assert peer[netlink.IFLA_ADDRESS] == b"\x02\x42\x0a\xd7\x00\x05"
    # The port is isolated in the same request that sets it up, never after.
    port = netlink.isolated_port_up("vpabc")
    assert struct.unpack_from("=BxHiII", port)[3:] == (netlink.IFF_UP, netlink.IFF_UP)
    slave = _attrs(_attrs(port[16:])[netlink.IFLA_LINKINFO])
    assert slave[netlink.IFLA_INFO_SLAVE_KIND] == b"bridge\0"
    assert _attrs(slave[netlink.IFLA_INFO_SLAVE_DATA])[netlink.IFLA_BRPORT_ISOLATED] == b"\1"


def test_a_refused_attach_says_why_and_leaves_no_namespace_lease_or_link(cid):
    """A link already holding the container's veth name (another runtime's, a stale one): the
    kernel refuses the pair; the error names it, and the namespace and address made before go."""
    from paas.runtime import netns, network
    from paas.runtime.errors import NetworkError
    from paas.runtime.netnames import NETNS_DIR, netns_name, veth_name

    name = cid("nl")
    veth = veth_name(name)
    subprocess.run(["ip", "link", "add", veth, "type", "bridge"], check=True)
    try:
        with pytest.raises(NetworkError, match=f"adding veth {veth} to .*: File exists"):
            network.attach(name, "bridge")
        assert not (NETNS_DIR / netns_name(name)).exists()
        assert name not in ipam.owners()
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
    # The caller's thread never left its namespace: made and entered from threads of their own.
    ours = os.stat("/proc/thread-self/ns/net").st_ino
    att = network.attach(name, "bridge")
    try:
        assert netns.run_in(att.netns, lambda: os.stat("/proc/thread-self/ns/net").st_ino) != ours
        assert os.stat("/proc/thread-self/ns/net").st_ino == ours
        # Kept as ip netns keeps them: the operator's tools see it.
        assert netns_name(name) in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    finally:
        network.detach(name, att)
    assert not (NETNS_DIR / netns_name(name)).exists() and not network.link_exists(veth)
