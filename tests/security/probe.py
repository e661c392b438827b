"""A hostile tenant's probe, pushed as part of an app by tests/security/test_hostile_push.py.

It runs inside a build (as the package.json build script) and inside the app's web
instance, with only the standard library of the stack's Python. It reports, one line
each, what it could reach or take:

    OPEN <address>:<port>      a TCP connection was accepted (DNS on the gateway is the platform's
                               forwarder, there for tenants: reported like any other)
    READ <path>                a file of the host could be read
    WROTE <path>               a file could be created there
    OWN 127.0.0.1:<port>       our own listener on our own loopback (the app's $PORT)
    GATEWAY <address>          the default route's gateway (the host's side of the bridge)
    PROBE DONE <connect attempts>

targets.json (written by the test) names the host's addresses and paths.
"""

import errno
import json
import os
import resource
import selectors
import socket
import sys

TIMEOUT_S = 0.2


def gateway() -> list[str]:
    """The default route's gateway: the host's side of our network, if there is one."""
    try:
        lines = open("/proc/net/route").read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return [socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))]
    return []


def batch_size() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except (ValueError, OSError):
        pass
    return max(64, min(soft - 64, 8000))


def own_listeners() -> set[int]:
    """Ports listening in our own network namespace (/proc/net/tcp is per namespace): the app's
    own $PORT, not something of the host's."""
    ports = set()
    try:
        lines = open("/proc/net/tcp").read().splitlines()[1:]
    except OSError:
        return ports
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def self_connected(sock: socket.socket) -> bool:
    """A connect to our own loopback whose source port is the port it asked for meets itself
    (TCP simultaneous open): that is our own socket, not a listener."""
    try:
        return sock.getsockname() == sock.getpeername()
    except OSError:
        return False


def scan(targets: list[tuple[str, int]]) -> tuple[list[str], int]:
    """Connect to every (address, port) without blocking; the ones that accepted."""
    found, size = [], batch_size()
    for start in range(0, len(targets), size):
        selector = selectors.DefaultSelector()
        for address, port in targets[start:start + size]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((address, port))
            if code in (0, errno.EINPROGRESS):
                selector.register(sock, selectors.EVENT_WRITE, (address, port))
            else:
                sock.close()
        for key, _ in selector.select(TIMEOUT_S):
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and not self_connected(key.fileobj):
                found.append("%s:%d" % key.data)
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return found, len(targets)


def main() -> None:
    spec = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets.json")))
    for address in gateway():
        print("GATEWAY", address, flush=True)
    every_port = ["127.0.0.1", *gateway(), *spec["every_port"]]
    targets = [(address, port) for address in dict.fromkeys(every_port) for port in range(1, 65536)]
    targets += [(address, port) for address in spec["some_ports"] for port in spec["ports"]]
    opened, attempts = scan(targets)
    own = own_listeners()
    for line in opened:
        address, port = line.rsplit(":", 1)
        print("OWN" if address == "127.0.0.1" and int(port) in own else "OPEN", line, flush=True)
    for path in spec["read"]:
        try:
            with open(path, "rb") as handle:
                handle.read(64)
            print("READ", path, flush=True)
        except OSError:
            pass
    for path in spec["write"]:
        try:
            with open(path, "x"):
                pass
            print("WROTE", path, flush=True)
        except OSError:
            pass
    print("PROBE DONE", attempts, flush=True)


if __name__ == "__main__":
    sys.exit(main())
