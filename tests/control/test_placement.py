from paas.platform.control.placement import HostCapacity, Request, place

HOST_STACK = frozenset({"host"})


def hosts(*specs, stacks=HOST_STACK):
    return [HostCapacity(name, memory, cpus, stacks=stacks) for name, memory, cpus in specs]


def req(key, app="a", ptype="web", memory=256, cpus=0.25, stack="host"):
    return Request(key, app, ptype, memory, cpus, stack)


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
    busy = HostCapacity("busy", 4096, 4, used_memory_mb=3900, stacks=HOST_STACK)
    idle = HostCapacity("idle", 4096, 4, stacks=HOST_STACK)
    assert place([req(1)], [busy, idle]).placed == {1: "idle"}


def test_an_instance_goes_only_to_a_host_that_has_its_stack():
    # The host without forky is emptier (spread and free memory would both pick it) yet never chosen.
    full = HostCapacity("full", 4096, 4, used_memory_mb=3000, stacks=frozenset({"host", "forky"}))
    empty = HostCapacity("empty", 8192, 4, stacks=HOST_STACK)
    decision = place([req(i, stack="forky") for i in range(3)] + [req(9)], [full, empty])
    assert decision.placed == {0: "full", 1: "full", 2: "full", 9: "empty"}


def test_no_host_with_the_stack_leaves_it_unplaced_naming_the_stack_and_what_hosts_have():
    decision = place([req(1, stack="forky")], hosts(("h1", 4096, 4)) + hosts(("h2", 4096, 4), stacks=frozenset()))
    assert decision.placed == {}
    reason = decision.unplaced[1]
    assert "'forky'" in reason and "have: host" in reason


def test_capacity_reason_counts_only_the_hosts_with_the_stack():
    big = HostCapacity("big", 65536, 32, stacks=HOST_STACK)
    small = HostCapacity("small", 1024, 4, used_memory_mb=900, stacks=frozenset({"trixie"}))
    reason = place([req(1, stack="trixie", memory=512)], [big, small]).unplaced[1]
    assert "512 MB" in reason and "124 MB" in reason


def test_a_host_reporting_no_stacks_takes_nothing():
    assert place([req(1)], hosts(("h1", 4096, 4), stacks=frozenset())).placed == {}
