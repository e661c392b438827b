"""Rollout and formation decisions, as plain data."""

from paas.platform.control.plan import FormationView, InstanceView, ReleaseView, plan_app

V1 = ReleaseView(1, 1, "succeeded", ("web", "worker"))
V2 = ReleaseView(2, 2, "pending", ("web", "worker"))


def inst(id, release, ptype="web", number=1, state="up", size="small", created=0.0, exit_code=None, generation=0,
         started=None):
    return InstanceView(id, release.id, ptype, number, size, state, created, exit_code, generation, started)


def plan(target, serving, formation, running, now=10.0, timeout=60, prepare=0):
    views = {t: v if isinstance(v, FormationView) else FormationView(*v) for t, v in formation.items()}
    result = plan_app(target, serving, views, running, now=now, start_timeout=timeout, prepare_timeout=prepare)
    result.create = [(c.process_type, c.number, c.size) for c in result.create]
    return result


def test_nothing_to_run_stops_everything():
    result = plan(None, None, {"web": (1, "small")}, [inst(1, V1)])
    assert result.stop == [1] and result.create == []


def test_first_deploy_creates_the_formation_and_starts_rolling():
    first = ReleaseView(2, 2, "pending", ("web", "worker"))
    result = plan(first, None, {"web": (2, "small"), "worker": (1, "medium")}, [])
    assert result.create == [("web", 1, "small"), ("web", 2, "small"), ("worker", 1, "medium")]
    assert result.status == ("deploying", "")


def test_old_release_keeps_serving_until_every_new_instance_is_up():
    running = [inst(1, V1), inst(2, V2, state="up"), inst(3, V2, "worker", state="starting")]
    result = plan(V2, V1, {"web": (1, "small"), "worker": (1, "small")}, running)
    assert result.stop == [] and result.create == []
    assert result.status == ("deploying", "")


def test_all_new_up_switches_traffic_then_the_old_stop_on_the_next_tick():
    running = [inst(1, V1), inst(4, V1, "worker"), inst(2, V2), inst(3, V2, "worker")]
    result = plan(V2, V1, {"web": (1, "small"), "worker": (1, "small")}, running)
    assert result.status == ("succeeded", "")
    assert result.stop == []  # still routed until this tick's table is published
    live = ReleaseView(2, 2, "succeeded", ("web", "worker"))
    after = plan(live, live, {"web": (1, "small"), "worker": (1, "small")}, running)
    assert sorted(after.stop) == [1, 4]


def test_a_crash_during_rollout_fails_it_and_keeps_the_old():
    running = [inst(1, V1), inst(2, V2, state="crashed", exit_code=3)]
    result = plan(V2, V1, {"web": (1, "small")}, running)
    assert result.status == ("failed", "web.1 exited with code 3 while starting")
    assert result.stop == [2]
    assert result.create == []


def test_oom_during_rollout_is_named():
    result = plan(V2, V1, {"web": (1, "small")}, [inst(1, V1), inst(2, V2, state="oom-killed")])
    assert "out of memory" in result.status[1]


def test_start_timeout_fails_the_rollout():
    running = [inst(1, V1), inst(2, V2, state="starting", created=0.0, started=0.0)]
    assert plan(V2, V1, {"web": (1, "small")}, running, now=59.0).status == ("deploying", "")
    result = plan(V2, V1, {"web": (1, "small")}, running, now=61.0)
    assert result.status[0] == "failed" and "web.1 did not become healthy within 60s" in result.status[1]
    assert result.stop == [2]


def test_the_start_timeout_counts_from_the_process_start_not_the_image_fetch_before_it():
    # Its host took 200 s to fetch the image (a stack's first import into a Docker engine).
    fetched = [inst(1, V1), inst(2, V2, state="starting", created=0.0, started=200.0)]
    assert plan(V2, V1, {"web": (1, "small")}, fetched, now=250.0, prepare=300).status == ("deploying", "")
    result = plan(V2, V1, {"web": (1, "small")}, fetched, now=261.0, prepare=300)
    assert result.status == ("failed", "web.1 did not become healthy within 60s")


def test_an_instance_never_started_fails_the_rollout_after_both_timeouts():
    waiting = [inst(1, V1), inst(2, V2, state="starting", created=0.0)]
    assert plan(V2, V1, {"web": (1, "small")}, waiting, now=359.0, prepare=300).status == ("deploying", "")
    result = plan(V2, V1, {"web": (1, "small")}, waiting, now=361.0, prepare=300)
    assert result.status == ("failed", "web.1 did not start within 360s of being placed")
    assert result.stop == [2]


def test_scaling_a_live_release_up_and_down():
    live = ReleaseView(1, 1, "succeeded", ("web",))
    up = plan(live, live, {"web": (3, "small")}, [inst(1, live)])
    assert up.create == [("web", 2, "small"), ("web", 3, "small")] and up.status is None
    down = plan(live, live, {"web": (1, "small")}, [inst(1, live), inst(2, live, number=2), inst(3, live, number=3)])
    assert sorted(down.stop) == [2, 3] and down.create == []


def test_a_size_change_replaces_the_instance():
    live = ReleaseView(1, 1, "succeeded", ("web",))
    result = plan(live, live, {"web": (1, "large")}, [inst(1, live, size="small")])
    assert result.stop == [1] and result.create == [("web", 1, "large")]


def test_a_superseded_rollout_is_stopped_but_the_serving_release_is_kept():
    v3 = ReleaseView(3, 3, "pending", ("web",))
    running = [inst(1, V1), inst(2, V2)]
    result = plan(v3, V1, {"web": (1, "small")}, running)
    assert result.stop == [2]
    assert result.create == [("web", 1, "small")]


def test_process_types_missing_from_the_release_are_ignored():
    live = ReleaseView(1, 1, "succeeded", ("web",))
    result = plan(live, live, {"web": (1, "small"), "clock": (2, "small")}, [inst(1, live)])
    assert result.create == [] and result.stop == []


def test_zero_instances_rolls_out_at_once():
    result = plan(V2, V1, {"web": (0, "small")}, [inst(1, V1)])
    assert result.status == ("succeeded", "") and result.stop == []


def test_a_stopped_type_runs_nothing_but_keeps_its_quantity():
    live = ReleaseView(1, 1, "succeeded", ("web",))
    result = plan(live, live, {"web": FormationView(2, "small", stopped=True)}, [inst(1, live), inst(2, live, number=2)])
    assert sorted(result.stop) == [1, 2] and result.create == []


def test_restart_replaces_one_instance_at_a_time():
    live = ReleaseView(1, 1, "succeeded", ("web",))
    spec = {"web": FormationView(2, "small", generation=1)}
    old = [inst(1, live, number=1), inst(2, live, number=2)]
    first = plan(live, live, spec, old)
    assert first.create == [("web", 1, "small")] and first.stop == []
    starting = old + [inst(3, live, number=1, state="starting", generation=1)]
    assert plan(live, live, spec, starting).create == [] and plan(live, live, spec, starting).stop == []
    replaced = old + [inst(3, live, number=1, state="up", generation=1)]
    step = plan(live, live, spec, replaced)
    assert step.stop == [1] and step.create == [("web", 2, "small")]


def test_a_canary_runs_beside_the_live_release_and_survives_its_rollouts():
    from paas.platform.control.plan import CanaryView

    live = ReleaseView(1, 1, "succeeded", ("web",))
    trial = ReleaseView(5, 5, "succeeded", ("web",))
    canary = CanaryView(trial, 1)
    spec = {"web": FormationView(3)}
    running = [inst(1, live), inst(2, live, number=2), inst(3, live, number=3)]
    first = plan_app(live, live, spec, running, now=0, start_timeout=60, canary=canary)
    assert [(c.process_type, c.number, c.release_id) for c in first.create] == [("web", 1, 5)]
    assert first.stop == []
    with_canary = running + [inst(9, trial)]
    steady = plan_app(live, live, spec, with_canary, now=0, start_timeout=60, canary=canary)
    assert steady.create == [] and steady.stop == []
    aborted = plan_app(live, live, spec, with_canary, now=0, start_timeout=60, canary=None)
    assert aborted.stop == [9]
