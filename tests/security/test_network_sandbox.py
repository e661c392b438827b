"""Issue 10, item 1 (network): a hostile build or instance reaches nothing of the platform.

Builds used the host network: a build script connected to the platform's
PostgreSQL, Redis, API and router. Now builds and instances share one sandbox:
their own network namespace on the platform bridge. From both, every probe of
the host (its loopback, each of its addresses, the gateway's ports, IPv6
link-local), of another instance, of the metadata address and of private
ranges must fail, while DNS through the bridge's forwarder and egress to "the
outside" (a namespace the test makes) work; with egress denied, nothing does.
"""

import pytest

from tests.netsandbox import (  # noqa: E402
    DNS_NAME,
    Listener,
    Outside,
    host_addresses,
    probe_on_host,
    run_in_build,
    run_in_instance,
    wait_for,
)

SERVER = ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8080"]




@pytest.fixture
def host_stack():
    from paas.runtime import stacks

    return stacks.get("host")


@pytest.fixture
def other_instance(sandbox, host_stack):
    """Another tenant's web instance on the same bridge, serving on 8080 (the host reaches it)."""
    from paas.runtime import container
    from paas.runtime.spec import ContainerSpec
    from tests.netsandbox import unique

    spec = ContainerSpec(command=tuple(SERVER), layers=host_stack.layers, binds=host_stack.binds,
                         network="bridge", user="app", id=unique("nv"), stop_grace=0.5)
    c = container.create(spec)
    try:
        c.start()
        address = c.record.network["address"]
        wait_for(lambda: probe_on_host(f"tcp:{address}:8080")[0].endswith("connected"),
                 what="the other instance serving")
        yield address
    finally:
        try:
            c.stop(grace=0.5)
        finally:
            container.release(spec.id)


def _hostile_probes(segment, outside, listener, victim) -> list[str]:
    gateway = str(segment.gateway)
    probes = [f"tcp:{gateway}:{listener.port}",            # a platform port on the gateway
              f"tcp:{gateway}:6379", f"tcp:{gateway}:5432",  # the machine's Redis and PostgreSQL
              f"tcp:127.0.0.1:{listener.port}", "tcp:127.0.0.1:6379",  # "loopback" is the container's own
              f"tcp:{victim}:8080",                          # another instance
              f"tcp:{Outside.METADATA}:8080",                # metadata (served there by the test's outside)
              f"tcp:{outside.address}:8080",                 # a private range, not allowed
              f"dnsq:{outside.address}:{DNS_NAME}"]          # DNS around the forwarder
    probes += [f"tcp:{address}:{listener.port}" for address in host_addresses()]  # every host address
    return probes


def _assert_all_refused(lines: list[str], probes: list[str]) -> None:
    assert len(lines) == len(probes), lines
    reached = [line for line in lines if line.endswith(("connected", "answered"))]
    assert not reached, f"reached from the sandbox: {reached}"


@pytest.mark.parametrize("where", ["build", "instance"])
def test_the_sandbox_reaches_nothing_of_the_host_or_other_tenants(where, sandbox, outside, other_instance,
                                                                   host_stack):
    _, segment = sandbox
    listener = Listener()
    try:
        probes = _hostile_probes(segment, outside, listener, other_instance)
        # Every target answers someone: the host reaches its own listener, the outside's servers,
        # the other instance; so a refusal below is the sandbox's doing.
        assert probe_on_host(f"tcp:{outside.address}:8080", f"tcp:{Outside.METADATA}:8080",
                             f"tcp:{other_instance}:8080", f"tcp:127.0.0.1:{listener.port}",
                             f"dnsq:{outside.address}:{DNS_NAME}") == [
            f"tcp {outside.address}:8080 connected", f"tcp {Outside.METADATA}:8080 connected",
            f"tcp {other_instance}:8080 connected", f"tcp 127.0.0.1:{listener.port} connected",
            f"dnsq {outside.address} {DNS_NAME} answered"]
        run = run_in_build if where == "build" else (lambda *a: run_in_instance(host_stack, *a))
        # The forwarder is the way to DNS, and it works: the sandbox is not merely offline.
        lines = run(f"dns:{DNS_NAME}", *probes)
        assert lines[0] == f"dns {DNS_NAME} {outside.address}", lines
        _assert_all_refused(lines[1:], probes)
    finally:
        listener.close()


def test_the_host_has_no_ipv6_address_on_the_bridge(sandbox, other_instance):
    """The firewall is IPv4's: a link-local IPv6 address of the host on the bridge would let
    containers reach every host service listening on [::], unfiltered."""
    import subprocess

    _, segment = sandbox
    listing = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", segment.bridge], capture_output=True,
                             text=True, check=True).stdout
    assert listing == ""


def test_metadata_and_platform_stay_closed_even_where_private_egress_is_allowed(sandbox, outside, host_stack):
    from paas.runtime import config

    mp, segment = sandbox
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    lines = run_in_build(f"tcp:{outside.address}:8080", f"tcp:{Outside.METADATA}:8080",
                         f"tcp:{segment.gateway}:6379", f"dnsq:{outside.address}:{DNS_NAME}")
    assert lines[0] == f"tcp {outside.address}:8080 connected"
    _assert_all_refused(lines[1:], ["metadata", "gateway", "dns around the forwarder"])


def test_an_instance_with_egress_denied_reaches_nothing_outside_dns_included(sandbox, outside, host_stack):
    from paas.runtime import config

    mp, _ = sandbox
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    probes = [f"dns:{DNS_NAME}", f"tcp:{outside.address}:8080"]
    assert run_in_instance(host_stack, *probes) == [f"dns {DNS_NAME} {outside.address}",
                                                    f"tcp {outside.address}:8080 connected"]
    denied = run_in_instance(host_stack, *probes, egress=False)
    assert denied[0].startswith(f"dns {DNS_NAME} failed") and denied[1].startswith(f"tcp {outside.address}:8080 refused"), denied
    # Builds of that app keep the registries: the setting is the instances'.
    assert run_in_build(f"tcp:{outside.address}:8080") == [f"tcp {outside.address}:8080 connected"]


def test_the_forwarder_is_no_resolver_for_the_hosts_other_networks(sandbox, outside, host_stack):
    _, segment = sandbox
    # The forwarder starts with the bridge's first container; it answers that container...
    assert run_in_instance(host_stack, f"dnsq:{segment.gateway}:{DNS_NAME}") == [
        f"dnsq {segment.gateway} {DNS_NAME} answered"]
    # ...and not a machine on another network that routes to the gateway through this host.
    assert probe_on_host(f"dnsq:{segment.gateway}:{DNS_NAME}", netns=outside.netns)[0].startswith(
        f"dnsq {segment.gateway} {DNS_NAME} failed")


# -- the attack as it happened: a real `git push` whose build script probes the platform --------

PROBE_JS = """
const net = require('net');
const targets = require('./targets.json');
for (const [host, port] of targets) {
  const s = net.connect({host, port, timeout: 1500});
  let said = false;
  const say = (r) => { if (!said) { said = true; console.log(`probe ${host}:${port} ${r}`); s.destroy(); } };
  s.on('connect', () => say('connected'));
  s.on('timeout', () => say('refused timeout'));
  s.on('error', (e) => say('refused ' + e.code));
}
"""


def test_a_pushed_build_script_reaches_no_platform_port(pusher, platform_env, tmp_path):  # noqa: F811
    """Builds used the host network: a package.json build script connected to PostgreSQL,
    Redis, the API, git and the router. Each of those ports, on loopback and on every host
    address, must be out of reach of the build script now. (Metadata is probed in the tests
    above, where the test's own namespace serves 169.254.169.254: a probe here would go to
    whatever answers that address on this machine's network should the sandbox fail.)"""
    import json
    import uuid
    from urllib.parse import urlsplit

    from paas.platform.actions.apps import create_app

    ports = {int(platform_env["PAAS_GIT_PORT"]), int(platform_env["PAAS_ROUTER_PORT"]),
             urlsplit(platform_env["DATABASE_URL"]).port or 5432, urlsplit(platform_env["REDIS_URL"]).port or 6379}
    listener = Listener()  # what the API would be, on every address
    ports.add(listener.port)
    try:
        targets = [[address, port] for address in ["127.0.0.1", *host_addresses()] for port in sorted(ports)]
        # The platform's services answer the host on loopback, the listener on every address: a
        # build on the host network reached them.
        answered = {line.split()[1] for line in probe_on_host(*(f"tcp:{a}:{p}" for a, p in targets))
                    if line.endswith(" connected")}
        assert {f"127.0.0.1:{port}" for port in ports} <= answered
        assert {f"{address}:{listener.port}" for address in host_addresses()} <= answered
        app = create_app(pusher.user, f"hostile-{uuid.uuid4().hex[:8]}")
        repo = pusher.repo(tmp_path / "src", {
            "package.json": json.dumps({"name": "probe", "version": "1.0.0", "private": True,
                                        "scripts": {"build": "node probe.js", "start": "node probe.js"}}),
            "probe.js": PROBE_JS, "targets.json": json.dumps(targets)}, app.name)
        result = pusher.push(repo)
    finally:
        listener.close()
    # "remote:", the buildpack's indent, the line, git's padding.
    probes = [line.split(None, 1)[1].strip() for line in result.stderr.splitlines()
              if line.split()[1:2] == ["probe"]]
    assert len(probes) == len(targets), result.stderr
    reached = [line for line in probes if line.endswith(" connected")]
    assert not reached, f"the build script reached: {reached}"

