"""Autoscaling decisions, as plain data."""

from paas.platform.control.autoscale_policy import Metrics, Policy, decide

RPS = Policy(1, 10, target_rps=50, target_p95_ms=None)


def run(current, policy, metrics, since=1000.0, idle=0.0):
    return decide(current, policy, metrics, since_last_change=since, idle_for=idle)


def test_scales_up_to_meet_the_request_rate():
    decision = run(2, RPS, Metrics(rps=240, p95_ms=20, requests=14400))
    assert decision.quantity == 5 and "240.0 req/s" in decision.reason


def test_never_above_max():
    assert run(2, RPS, Metrics(rps=5000, p95_ms=20, requests=1)).quantity == 10


def test_down_one_at_a_time_only_with_headroom():
    assert run(5, RPS, Metrics(rps=60, p95_ms=20, requests=1)).quantity == 4
    assert run(5, RPS, Metrics(rps=190, p95_ms=20, requests=1)) is None  # 190 > 4*50*0.7


def test_cooldowns_stop_flapping():
    assert run(2, RPS, Metrics(rps=240, p95_ms=20, requests=1), since=10) is None
    assert run(5, RPS, Metrics(rps=10, p95_ms=20, requests=1), since=60) is None


def test_latency_target_adds_an_instance_and_vetoes_scaling_down():
    both = Policy(1, 10, target_rps=50, target_p95_ms=200)
    assert run(3, both, Metrics(rps=10, p95_ms=450, requests=1)).quantity == 4
    assert run(3, both, Metrics(rps=10, p95_ms=180, requests=1)) is None


def test_idle_app_with_min_zero_scales_to_zero_and_stays_there_without_requests():
    sleepy = Policy(0, 3, target_rps=50, target_p95_ms=None)
    assert run(1, sleepy, None, idle=301).quantity == 0
    assert run(1, sleepy, None, idle=100) is None
    assert run(0, sleepy, Metrics(rps=0, p95_ms=0, requests=0), idle=1000) is None


def test_out_of_range_quantity_is_brought_back():
    assert run(0, RPS, None).quantity == 1
    assert run(12, RPS, None).quantity == 10


def test_no_metrics_no_change():
    assert run(3, RPS, None) is None


def test_an_app_that_may_scale_to_zero_sleeps_first_once_idle_long_enough():
    from paas.platform.control.autoscale_policy import sleeps

    assert sleeps(0, 1, idle_for=30, sleep_after=30)
    assert not sleeps(0, 1, idle_for=29.9, sleep_after=30)
    assert not sleeps(1, 1, idle_for=1000, sleep_after=30)   # may not scale to zero: never asleep
    assert not sleeps(0, 0, idle_for=1000, sleep_after=30)   # stopped already: nothing to freeze
    # Just woken from zero: the request it served may not be in the metrics yet.
    assert not sleeps(0, 1, idle_for=1000, sleep_after=30, since_last_change=2)
