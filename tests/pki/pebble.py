"""Debian's pebble (the ACME test CA) and pebble-challtestsrv (its DNS) on loopback, for one test.

pebble validates HTTP-01 by connecting to the name's address on ``http_port`` (the router's
plain port); every name resolves to 127.0.0.1 through challtestsrv's DNS unless a test gives
it another address (``set_address``). The directory is served over TLS with a certificate of
a CA made here (``ca_file``), which clients must trust for the directory.
"""

import json
import os
import shutil
import ssl
import subprocess
import urllib.request

from tests.e2e.platform_procs import dies_with_tests, free_port, wait_for_port
from tests.pki.certmaker import key_pem, make, pem


MISSING = "pebble is not installed (compose/bootstrap.sh installs Debian's pebble)"


def installed() -> bool:
    return shutil.which("pebble") is not None and shutil.which("pebble-challtestsrv") is not None


class Pebble:
    def __init__(self, directory, http_port: int):
        if not installed():
            raise RuntimeError(MISSING)
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        ca = make("pebble test listener CA", ca=True, days=30)
        # Clients connect by address: the leaf names 127.0.0.1 too.
        leaf, key = make("localhost", ca, names=["localhost"], addresses=["127.0.0.1"], days=30)
        (self.dir / "ca.pem").write_text(pem(ca[0]))
        (self.dir / "cert.pem").write_text(pem(leaf))
        (self.dir / "key.pem").write_text(key_pem(key))
        self.ca_file = str(self.dir / "ca.pem")
        self.port, self.management, self.dns, self.dns_admin = (free_port() for _ in range(4))
        config = {"pebble": {"listenAddress": f"127.0.0.1:{self.port}",
                             "managementListenAddress": f"127.0.0.1:{self.management}",
                             "certificate": str(self.dir / "cert.pem"), "privateKey": str(self.dir / "key.pem"),
                             "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
                             "externalAccountBindingRequired": False}}
        (self.dir / "pebble.json").write_text(json.dumps(config))
        env = {"PATH": os.environ["PATH"], "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
               "PEBBLE_AUTHZREUSE": "0"}
        self.procs = []
        self.procs.append(subprocess.Popen(
            ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", f"127.0.0.1:{self.dns}",
             "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_admin}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=dies_with_tests))
        try:
            wait_for_port(self.dns_admin, self.procs[0], "pebble-challtestsrv", timeout=20)
            self.procs.append(subprocess.Popen(
                ["pebble", "-config", str(self.dir / "pebble.json"), "-dnsserver", f"127.0.0.1:{self.dns}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=dies_with_tests))
            wait_for_port(self.port, self.procs[1], "pebble", timeout=20)
        except BaseException:
            self.close()
            raise

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def set_address(self, hostname: str, address: str) -> None:
        """Make ``hostname`` resolve to ``address`` for pebble's validation."""
        body = json.dumps({"host": hostname.rstrip(".") + ".", "addresses": [address]}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.dns_admin}/add-a", body),
                               timeout=5).read()

    def root_pem(self) -> str:
        """The root pebble issues certificates under (made anew at each start)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with urllib.request.urlopen(f"https://127.0.0.1:{self.management}/roots/0", context=ctx, timeout=5) as r:
            return r.read().decode()

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr:
                proc.stderr.close()

