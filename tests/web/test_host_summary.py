"""The dashboard's hosts (web/hosts.py summary): totals over every host, and cards for the ones wanting a look
first, then the fullest; plain dicts in, no database."""

from django.conf import settings

from paas.web.hosts import summary


def row(name, *, state="up", heartbeat_ok=True, used_memory_mb=0, memory_percent=0, cpu_percent=0):
    return {"name": name, "state": state, "heartbeat_ok": heartbeat_ok, "memory_mb": 1000, "cpus": 2,
            "used_memory_mb": used_memory_mb, "used_cpus": 0.5, "instance_count": 3,
            "memory_percent": memory_percent, "cpu_percent": cpu_percent}


def test_totals_count_every_host_not_only_the_cards():
    rows = [row(f"h{i}", used_memory_mb=100) for i in range(20)]
    shown = summary(rows, cards=3)
    assert (shown.count, shown.memory_mb, shown.used_memory_mb, shown.instance_count) == (20, 20000, 2000, 60)
    assert shown.cpu_limit == 40 * settings.PAAS_CPU_OVERCOMMIT and shown.used_cpus == 10
    assert shown.memory_percent == 10 and shown.states == {"up": 20} and len(shown.cards) == 3


def test_hosts_wanting_a_look_come_first_then_the_fullest():
    rows = [row("full", memory_percent=95), row("quiet", memory_percent=5), row("silent", heartbeat_ok=False),
            row("cordoned", state="draining"), row("busy-cpu", memory_percent=95, cpu_percent=80)]
    names = [h["name"] for h in summary(rows, cards=4).cards]
    assert names == ["cordoned", "silent", "busy-cpu", "full"]
    assert summary(rows, cards=4).states == {"up": 4, "draining": 1}


def test_no_hosts():
    shown = summary([])
    assert (shown.count, shown.cards, shown.memory_percent, shown.cpu_percent) == (0, [], 0, 0)
