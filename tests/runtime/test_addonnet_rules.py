"""The add-on rules as plain text (runtime/addonnet.py): who reaches a server, on this host and across hosts."""

from paas.runtime import addonnet, config, firewall
from paas.runtime.addonnet import Endpoint, Forward

BRIDGE = f"{config.BRIDGE}+"


def test_a_server_admits_its_apps_containers_here_and_the_hosts_running_them_elsewhere():
    text = addonnet.rules_text([Endpoint("postgresql-a", "10.9.0.2", 5432, 15000, ("10.8.0.5",), ("192.0.2.7",))])
    assert "-s 10.8.0.5/32 -d 10.9.0.2/32 -p tcp --dport 5432 -m conntrack --ctstate DNAT -j ACCEPT" in text
    assert "-s 192.0.2.7/32 -d 10.9.0.2/32 -p tcp --dport 5432 -m conntrack --ctstate DNAT -j ACCEPT" in text
    # From outside the bridges only that host is DNATed to the server; everything else to it is dropped.
    assert (f"! -i {BRIDGE} -s 192.0.2.7/32 -p tcp --dport 15000 -m addrtype --dst-type LOCAL "
            f"-j DNAT --to-destination 10.9.0.2:5432") in text
    assert text.count("--to-destination 10.9.0.2:5432") == 2 and "-d 10.9.0.2/32 -j DROP" in text


def test_an_app_here_reaches_a_server_elsewhere_on_the_same_gateway_port_and_no_one_else_does():
    text = addonnet.rules_text([], [Forward("postgresql-b", 15001, "192.0.2.9", ("10.8.0.6",))])
    assert (f"-i {BRIDGE} -p tcp --dport 15001 -m addrtype --dst-type LOCAL "
            f"-j DNAT --to-destination 192.0.2.9:15001") in text
    accepts = [line for line in text.splitlines() if "192.0.2.9/32" in line and "ACCEPT" in line]
    assert accepts == [f"-A {addonnet.chains()[0]} -i {BRIDGE} -s 10.8.0.6/32 -d 192.0.2.9/32 -p tcp --dport 15001 "
                       f"-m conntrack --ctstate DNAT -j ACCEPT"]
    # Anything else out of a bridge to an add-on port (of any host) is refused by the bridge's own chain.
    ports = addonnet.port_range()
    assert f"-p tcp --dport {ports[0]}:{ports[-1]} -j REJECT" in firewall.rules_text()


def test_a_forward_admits_the_attached_apps_instances_here_only():
    from types import SimpleNamespace

    def running(app, release, address):  # a container's record as the agent reads it: labels and address
        return SimpleNamespace(record=SimpleNamespace(labels={"app": app, "release": release},
                                                      network={"address": address}))

    here = [running("shop", "v3", "10.8.0.5"), running("shop", "addon", "10.9.0.4"),  # shop's own server
            running("other", "v1", "10.8.0.6"), running("shop", "v3", "")]
    remote = [{"name": "postgresql-b", "host_port": 15001, "address": "192.0.2.9", "allow_apps": ["shop"]}]
    assert addonnet.forwards(remote, here) == [Forward("postgresql-b", 15001, "192.0.2.9", ("10.8.0.5",))]
