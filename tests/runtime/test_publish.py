"""Published ports: a bridge instance's port on a host port, reachable from another machine
(a network namespace of the test's own), never from other instances; host mode ports."""

import pytest

from paas.runtime import ports
from paas.runtime.firewall import publish_rules
from tests.hostnet import OtherHost

from .conftest import CONNECT, SERVER, wait_for


@pytest.fixture
def other_machine():
    host = OtherHost("client").create()
    yield host
    host.remove()


def _fetch_from(machine: OtherHost, address: str, port: int) -> str:
    result = machine.run("curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                         f"http://{address}:{port}/")
    return result.stdout


def test_published_port_reaches_the_instance_from_another_machine(detached, other_machine):
    c = detached(SERVER, network="bridge", publish=8080, app="pub-a")
    host_port = c.record.network["host_port"]
    assert host_port in ports.parse_range(ports.range_text())
    assert c.record.network["port"] == 8080
    wait_for(lambda: _fetch_from(other_machine, other_machine.our_address, host_port) == "200", timeout=20,
             what="the published port answering from the other machine")
    assert len(publish_rules(c.id)) == 1


def test_instances_cannot_reach_published_ports(detached, other_machine):
    server = detached(SERVER, network="bridge", publish=8080, app="pub-b")
    host_port = server.record.network["host_port"]
    wait_for(lambda: _fetch_from(other_machine, other_machine.our_address, host_port) == "200", timeout=20,
             what="the published port answering")
    probe = detached(["python3", "-c", CONNECT, other_machine.our_address, str(host_port)], network="bridge",
                     app="pub-c")
    assert probe.wait(20)
    assert (probe.dir / "stdout.log").read_text().startswith("refused")


def test_removing_the_instance_unpublishes_and_frees_the_port(detached):
    c = detached(["sleep", "30"], network="bridge", publish=5000)
    assert c.id in ports.owners() and publish_rules(c.id)
    c.stop(grace=0.2)
    c.remove()
    assert c.id not in ports.owners()
    assert publish_rules(c.id) == []


def test_host_ports_are_distinct_and_given_back(cid):
    a, b = cid(), cid()
    first, second = ports.allocate(a), ports.allocate(b)
    assert first != second
    assert ports.allocate(a) == first  # the same owner asking again
    assert ports.release(a) == [first] and a not in ports.owners()
    assert ports.release(b) == [second]


def test_a_port_something_listens_on_is_skipped(cid, monkeypatch):
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setenv("PAAS_PUBLISH_PORTS", f"{busy}-{busy + 1}")
        owner = cid()
        try:
            assert ports.allocate(owner) == busy + 1
        finally:
            ports.release(owner)


@pytest.mark.parametrize("text", ["20000", "x-y", "30000-20000", "80-90", "20000-70000"])
def test_bad_port_ranges_are_refused(text, monkeypatch, cid):
    from paas.runtime.errors import SpecError

    monkeypatch.setenv("PAAS_PUBLISH_PORTS", text)
    with pytest.raises(SpecError, match="port range"):
        ports.allocate(cid())


def test_publishing_needs_a_network(host_stack, cid):
    from paas.runtime import container
    from paas.runtime.errors import SpecError
    from paas.runtime.spec import ContainerSpec

    spec = ContainerSpec(command=("true",), layers=host_stack.layers, binds=host_stack.binds, network="none",
                         publish=8080, id=cid())
    with pytest.raises(SpecError, match="without a network"):
        container.create(spec)
