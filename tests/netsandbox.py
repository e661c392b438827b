"""A bridge of the test's own and "the outside" for the network sandbox tests.

The outside is a network namespace (tests/hostnet.OtherHost, on 10.217.0.0/16)
running a DNS server (dnsmasq answering example.test with its own address) and
an HTTP server on port 8080, also reachable at 169.254.169.254 (a host route
sends that address into it), where a cloud's metadata service would be. The
test bridge's forwarder asks that DNS server; nothing of these tests leaves
the machine.

PROBE runs inside a container (or on the host) with one argument per probe and
prints one line each:
  tcp:ADDR:PORT    -> "tcp ADDR:PORT connected" | "tcp ADDR:PORT refused <error>"
  dns:NAME         -> "dns NAME <address>"      | "dns NAME failed <error>"  (the container's resolver)
  dnsq:ADDR:NAME   -> "dnsq ADDR NAME answered" | "dnsq ADDR NAME failed <error>"  (one UDP query to ADDR:53)
"""

import ipaddress
import os
import socket
import subprocess
import sys
import uuid
from contextlib import contextmanager

import pytest

from tests.hostnet import OtherHost
from tests.waiting import wait_for  # noqa: F401  (the tests of the sandbox import it from here)

PROBE = r'''
import socket, struct, sys, os

def query(server, name):
    packet = struct.pack(">HHHHHH", os.getpid() & 0xFFFF, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    s.sendto(packet, (server, 53))
    reply = s.recv(4096)
    if reply[:2] != packet[:2] or struct.unpack(">H", reply[6:8])[0] < 1:
        raise OSError("no answer")

def probe(arg):
    kind, _, rest = arg.partition(":")
    try:
        if kind == "tcp":
            address, _, port = rest.rpartition(":")
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            s = socket.socket(family)
            s.settimeout(1.5)
            s.connect((address.strip("[]"), int(port)))
            return " ".join(("tcp", rest, "connected"))
        elif kind == "dns":
            found = socket.getaddrinfo(rest, None, socket.AF_INET)[0][4][0]
            return " ".join(("dns", rest, found))
        elif kind == "dnsq":
            server, _, name = rest.partition(":")
            query(server, name)
            return " ".join(("dnsq", server, name, "answered"))
    except (OSError, ValueError) as exc:
        label = {"tcp": "refused", "dns": "failed", "dnsq": "failed"}[kind]
        return " ".join((kind, rest.replace(":", " ") if kind == "dnsq" else rest, label, type(exc).__name__))

# All at once (a dropped probe waits out its timeout), reported in the order asked.
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(max(1, len(sys.argv) - 1)) as pool:
    for line in pool.map(probe, sys.argv[1:]):
        print(line, flush=True)
'''

DNS_NAME = "example.test"


def probe_on_host(*args: str, netns: str | None = None) -> list[str]:
    """PROBE run by this machine (or in the network namespace `netns`, a path)."""
    argv = [sys.executable, "-c", PROBE, *args]
    if netns:
        argv = ["nsenter", f"--net={netns}", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.splitlines()



class Outside:
    """The outside world of a test: DNS and HTTP servers in a namespace of their own."""

    METADATA = "169.254.169.254"

    def __init__(self):
        self.host = OtherHost("net")
        self.procs: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"{self.host.address}/30", strict=False)

    @property
    def netns(self) -> str:
        return f"/run/netns/{self.host.name}"

    def start(self) -> "Outside":
        self.host.create()
        try:
            subprocess.run(["ip", "-n", self.host.name, "addr", "add", f"{self.METADATA}/32", "dev", "eth0"],
                           check=True, capture_output=True)
            # Deleted with the veth when the namespace goes.
            subprocess.run(["ip", "route", "add", f"{self.METADATA}/32", "via", self.address],
                           check=True, capture_output=True)
            self.procs.append(subprocess.Popen(self.host.argv(
                "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--no-resolv",
                "--no-hosts", f"--listen-address={self.address}", "--bind-interfaces", "--port=53",
                f"--address=/{DNS_NAME}/{self.address}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.procs.append(subprocess.Popen(self.host.argv(
                sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "8080"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(lambda: probe_on_host(f"dnsq:{self.address}:{DNS_NAME}")[0].endswith("answered"),
                     what="the outside's DNS server")
            wait_for(lambda: probe_on_host(f"tcp:{self.address}:8080")[0].endswith("connected"),
                     what="the outside's HTTP server")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.host.remove()


@contextmanager
def sandbox_bridge(monkeypatch, outside: Outside):
    """The runtime on a bridge and pool of this test process, its forwarder asking the outside's DNS."""
    from paas.runtime import config, firewall, ipam, leases, network

    bridge = f"pn{os.getpid() % 100000}"
    monkeypatch.setattr(config, "BRIDGE", bridge)
    monkeypatch.setattr(config, "ADDRESS_POOL", f"10.218.{os.getpid() % 256}.0/24")
    monkeypatch.setattr(config, "DNS_UPSTREAM", (outside.address,))
    try:
        yield ipam.segment(0)
    finally:
        network.remove_bridge(ipam.segment(0))
        firewall.remove_rules()
        for path in leases.directory().glob(f"{bridge}-*"):
            path.unlink(missing_ok=True)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def run_in_instance(host_stack, *args: str, egress: bool = True) -> list[str]:
    """PROBE as an app instance on the bridge (egress denied the way the agent denies it)."""
    from paas.runtime import container, network
    from paas.runtime.spec import ContainerSpec

    spec = ContainerSpec(command=("python3", "-c", PROBE, *args), layers=host_stack.layers,
                         binds=host_stack.binds, network="bridge", user="app", id=unique("np"), stop_grace=1.0)
    c = container.create(spec)
    try:
        if not egress:
            network.set_egress(c.record.network, False)
        helper = c.start(detach=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = helper.communicate(timeout=120)
        c.mark_stopped(helper_code=helper.returncode)
        return out.decode(errors="replace").splitlines()
    finally:
        container.release(spec.id)


def run_in_build(*args: str) -> list[str]:
    """PROBE as a build step (the build container, as buildpacks run)."""
    from paas.buildpacks.containerexec import ContainerExecutor

    lines: list[str] = []
    ContainerExecutor(name="nb").run(["python3", "-c", PROBE, *args], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                                     mounts=[], timeout=120, on_line=lines.append)
    return lines


def host_addresses() -> list[str]:
    """Every IPv4 address of this machine but loopback's."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in listing.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            found.append(address)
    return found


class Listener:
    """A TCP listener of this machine on every IPv4 address: what the platform's PostgreSQL,
    Redis or API would be."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def outside():
    """"The outside" for one test module: a network namespace of our own with a DNS server and a web server."""
    world = Outside().start()
    yield world
    world.stop()


@pytest.fixture
def sandbox(outside):
    """A bridge of this test's own whose egress leads to `outside`: (monkeypatch, segment)."""
    with pytest.MonkeyPatch.context() as mp, sandbox_bridge(mp, outside) as segment:
        yield mp, segment
