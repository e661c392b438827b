"""The agent's decision function, on plain data."""

from paas.runtime.reconcile import Actual, Desired, backoff, decide


def desired(name="blog.web.1", **kw):
    base = dict(name=name, app="blog", release="v1", process="web.1", command="./run", image="sha256:" + "a" * 64)
    base.update(kw)
    return Desired(**base)


def kinds(actions):
    return [(a.kind, a.name) for a in actions]


def test_new_instances_are_started():
    assert kinds(decide([desired()], [], now=100)) == [("start", "blog.web.1")]


def test_running_and_wanted_is_observed():
    d = desired()
    assert kinds(decide([d], [Actual(d.name, True, d.fingerprint)], now=100)) == [("observe", d.name)]


def test_undesired_containers_are_stopped():
    assert kinds(decide([], [Actual("old.web.1", True, "x")], now=100)) == [("stop", "old.web.1")]


def test_a_changed_definition_replaces_the_container():
    old = desired(release="v1")
    new = desired(release="v2")
    assert kinds(decide([new], [Actual(old.name, True, old.fingerprint)], now=100)) == [("stop", old.name)]


def test_exited_containers_are_collected_before_a_restart():
    d = desired()
    assert kinds(decide([d], [Actual(d.name, False, d.fingerprint)], now=100)) == [("collect", d.name)]


def test_restart_waits_for_the_backoff():
    d = desired(restarts=3, last_exit_at=100.0)     # backoff(3) = 4 s
    assert decide([d], [], now=103.9) == []
    assert kinds(decide([d], [], now=104.0)) == [("start", d.name)]


def test_backoff_is_exponential_and_capped():
    assert [backoff(n) for n in range(5)] == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert backoff(50) == 60.0


def test_same_inputs_same_actions():
    ds = [desired("a.web.1"), desired("b.web.1")]
    acts = [Actual("c.web.1", True, "f"), Actual("a.web.1", False, "")]
    assert decide(ds, acts, now=5) == decide(ds, acts, now=5)
