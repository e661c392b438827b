from paas.platform.control.placement import HostCapacity, Request, place


def hosts(*specs):
    return [HostCapacity(name, memory, cpus) for name, memory, cpus in specs]


def req(key, app="a", ptype="web", memory=256, cpus=0.25):
    return Request(key, app, ptype, memory, cpus)


def test_instances_of_one_type_spread_across_hosts():
    decision = place([req(i) for i in range(4)], hosts(("h1", 4096, 4), ("h2", 4096, 4)))
    assert sorted(decision.placed.values()) == ["h1", "h1", "h2", "h2"]


def test_memory_is_never_overcommitted_and_the_reason_is_given():
    decision = place([req(1, memory=1024), req(2, memory=1024)], hosts(("h1", 1500, 8)))
    assert decision.placed == {1: "h1"}
    assert "1024 MB" in decision.unplaced[2] and "476 MB" in decision.unplaced[2]


def test_cpu_respects_the_overcommit_factor():
    decision = place([req(i, cpus=1.0, memory=1) for i in range(5)], hosts(("h1", 10_000, 1)), cpu_overcommit=4.0)
    assert len(decision.placed) == 4 and "CPU" in decision.unplaced[4]


def test_no_hosts():
    assert "no host is up" in place([req(1)], []).unplaced[1]


def test_existing_load_counts():
    busy = HostCapacity("busy", 4096, 4, used_memory_mb=3900)
    idle = HostCapacity("idle", 4096, 4)
    assert place([req(1)], [busy, idle]).placed == {1: "idle"}
