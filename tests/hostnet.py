"""Another machine on this one, for tests of what crosses a network: a network namespace
joined to ours by a veth pair on a private /30 (ours .1, its .2), with a default route
back through us. Processes run in it with ``nsenter --net``, which keeps our mounts
(``ip netns exec`` would remount /sys and hide the cgroup hierarchy)."""

import itertools
import os
import subprocess

_SUBNETS = itertools.count()


def _ip(*args: str, input_text: str | None = None) -> None:
    subprocess.run(["ip", *args], input=input_text, text=True, check=True, capture_output=True)


class OtherHost:
    def __init__(self, tag: str):
        index = next(_SUBNETS)
        # Unique per test process and per host made in it; /30s inside 10.217.0.0/16.
        base = (os.getpid() % 256) * 64 + index % 64
        self.name = f"paas-{tag}-{os.getpid()}-{index}"
        self.link = f"ho{os.getpid() % 100000}x{index}"
        self.our_address = f"10.217.{base // 64}.{(base % 64) * 4 + 1}"
        self.address = f"10.217.{base // 64}.{(base % 64) * 4 + 2}"

    def create(self) -> "OtherHost":
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.link, "type", "veth", "peer", "name", "eth0", "netns", self.name)
            _ip("addr", "add", f"{self.our_address}/30", "dev", self.link)
            _ip("link", "set", self.link, "up")
            _ip("-n", self.name, "-batch", "-", input_text="\n".join([
                "link set lo up", f"addr add {self.address}/30 dev eth0", "link set eth0 up",
                f"route add default via {self.our_address}"]) + "\n")
        except subprocess.CalledProcessError:
            self.remove()
            raise
        return self

    def argv(self, *command: str) -> list[str]:
        """`command` run inside this host's network."""
        return ["nsenter", f"--net=/run/netns/{self.name}", *command]

    def run(self, *command: str, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*command), capture_output=True, text=True, timeout=timeout, **kwargs)

    def remove(self) -> None:
        """Deleting the namespace takes its end of the veth pair, and with it ours.

        A host going away takes its processes: what still runs in the namespace (the
        DNS forwarder its agent started for its bridge) would otherwise keep it alive.
        """
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)


class Relay:
    """A TCP port on one of our addresses that carries each connection to a service on our
    loopback: how another host reaches this machine's PostgreSQL, Redis or API, which
    listen on 127.0.0.1 only."""

    def __init__(self, address: str, target_port: int):
        import socket
        import threading

        self.target_port = target_port
        self.listener = socket.create_server((address, 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        import socket

        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for sock in self.sockets:
            sock.close()
