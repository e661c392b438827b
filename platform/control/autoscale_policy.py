"""Elastic scaling decisions: plain code over the router's metrics, no I/O.

Scaling up follows demand at once (after a short cooldown); scaling down goes
one instance at a time after a longer cooldown, and only when every signal
agrees, so a noisy minute never makes the formation flap. With a minimum of
zero, an app that served nothing for the idle period scales to zero; the
router wakes it on the next request.
"""

import math
from dataclasses import dataclass

UP_COOLDOWN_S = 30
DOWN_COOLDOWN_S = 120
IDLE_TO_ZERO_S = 300
# Scale down only when the load would still fit with headroom below the target.
DOWN_HEADROOM = 0.7


@dataclass(frozen=True)
class Policy:
    min_quantity: int
    max_quantity: int
    target_rps: float | None
    target_p95_ms: float | None


@dataclass(frozen=True)
class Metrics:
    rps: float
    p95_ms: float
    requests: int


@dataclass(frozen=True)
class Decision:
    quantity: int
    reason: str


def decide(current: int, policy: Policy, metrics: Metrics | None, *, since_last_change: float,
           idle_for: float, idle_to_zero: float = IDLE_TO_ZERO_S) -> Decision | None:
    """The new quantity and why, or None to leave the formation alone."""
    low, high = policy.min_quantity, policy.max_quantity
    if not low <= current <= high:
        target = min(max(current, low), high)
        return Decision(target, f"kept within {low}..{high}")
    if low == 0 and current > 0 and idle_for >= idle_to_zero:
        return Decision(0, f"no requests for {idle_for:.0f}s: scaling to zero")
    if metrics is None or current == 0:
        return None  # zero wakes on a request (router), not on metrics
    wanted = wanted_quantity(current, policy, metrics)
    if wanted > current and since_last_change >= UP_COOLDOWN_S:
        return Decision(min(wanted, high), explain(metrics, policy, "up"))
    if wanted < current and since_last_change >= DOWN_COOLDOWN_S and current - 1 >= max(low, 1):
        return Decision(current - 1, explain(metrics, policy, "down"))
    return None


def sleeps(min_quantity: int, current: int, idle_for: float, sleep_after: float,
           since_last_change: float = float("inf")) -> bool:
    """An app that may scale to zero first sleeps frozen (control/sleep.py) once idle this long.

    Not sooner after its last scaling either: woken from zero, it has just served a request that
    the router's metrics (a snapshot every few seconds) may not show yet.
    """
    return min_quantity == 0 and current > 0 and min(idle_for, since_last_change) >= sleep_after


def wanted_quantity(current: int, policy: Policy, metrics: Metrics) -> int:
    by_rps = by_latency = None
    if policy.target_rps:
        needed = math.ceil(metrics.rps / policy.target_rps)
        fits_in_fewer = metrics.rps < policy.target_rps * (current - 1) * DOWN_HEADROOM
        by_rps = needed if needed > current else (current - 1 if fits_in_fewer else current)
    if policy.target_p95_ms:
        if metrics.p95_ms > policy.target_p95_ms:
            by_latency = current + 1
        elif metrics.p95_ms < policy.target_p95_ms * DOWN_HEADROOM:
            by_latency = current - 1
        else:
            by_latency = current
    signals = [s for s in (by_rps, by_latency) if s is not None]
    # Up when any signal wants more; down only when every signal wants fewer.
    return max(signals) if signals else current


def explain(metrics: Metrics, policy: Policy, direction: str) -> str:
    parts = [f"{metrics.rps:.1f} req/s"]
    if policy.target_rps:
        parts[0] += f" (target {policy.target_rps:g} per instance)"
    if policy.target_p95_ms:
        parts.append(f"p95 {metrics.p95_ms:.0f} ms (target {policy.target_p95_ms:g})")
    return f"scaling {direction}: " + ", ".join(parts)
