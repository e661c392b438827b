"""paas hosts, hosts:cordon, hosts:uncordon, hosts:drain: the admins' commands over /api/hosts."""

import pytest
from django.utils import timezone

from paas.platform.models import Host
from tests.platform.test_cli import logged_in_cli


@pytest.fixture
def hosts(transactional_db):
    now = timezone.now()
    return [Host.objects.create(name=name, address=f"10.0.0.{n}", memory_mb=4096, cpus=4, last_heartbeat=now)
            for n, name in enumerate(("cli-host-a", "cli-host-b"), start=1)]


def test_an_admin_lists_cordons_uncordons_and_drains(live_server, tmp_path, hosts):
    admin = logged_in_cli(live_server, tmp_path / "root", "root", admin=True)
    listed = admin.run("hosts").stdout
    assert "cli-host-a" in listed and "0 / 4096 MB" in listed
    # Only this test's hosts: the session's e2e agent may have heartbeated its own back in.
    listed = {h["name"]: h["state"] for h in admin.json("hosts") if h["name"].startswith("cli-host-")}
    assert listed == {"cli-host-a": "up", "cli-host-b": "up"}

    assert admin.run("hosts:cordon", "cli-host-a").stdout.strip() == "Cordoned cli-host-a: draining"
    assert Host.objects.get(name="cli-host-a").state == Host.DRAINING
    assert admin.json("hosts:uncordon", "cli-host-a")["state"] == "up"
    assert "Draining cli-host-b: 0 instance(s) moving" in admin.run("hosts:drain", "cli-host-b").stdout
    assert Host.objects.get(name="cli-host-b").state == Host.DRAINING


@pytest.mark.parametrize("args, problem", [
    (("hosts:cordon", "no-such-host"), "host 'no-such-host' not found"),
    (("hosts:drain", "x" * 300), "host name"),
    (("hosts:uncordon",), "the following arguments are required: HOST"),
])
def test_bad_hosts_commands_say_what_was_wrong(live_server, tmp_path, hosts, args, problem):
    admin = logged_in_cli(live_server, tmp_path / "root", "root", admin=True)
    result = admin.run(*args, ok=False)
    assert result.returncode != 0 and problem in result.stderr and "Traceback" not in result.stderr
    assert set(Host.objects.filter(name__startswith="cli-host-").values_list("state", flat=True)) == {"up"}


def test_a_non_admin_is_refused_and_changes_nothing(live_server, tmp_path, hosts):
    member = logged_in_cli(live_server, tmp_path / "mallory", "mallory")
    for args in (("hosts",), ("hosts:cordon", "cli-host-a"), ("hosts:drain", "cli-host-b")):
        result = member.run(*args, ok=False)
        assert result.returncode == 1 and "hosts are run by platform admins" in result.stderr
    assert set(Host.objects.filter(name__startswith="cli-host-").values_list("state", flat=True)) == {"up"}
