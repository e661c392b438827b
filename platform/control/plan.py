"""One app's deploy and formation decisions: plain code, no database, no I/O.

Given the release to run (the target), the release now taking traffic (the
serving one), the formation and the app's instances, say what to create, what
to stop, and how the target's rollout stands. Called every tick with fresh
facts (level-triggered): the same facts always give the same plan.

A rollout is health-gated: the target's instances start beside the serving
ones and take traffic only when every one of them is up. Then the serving
release's instances are stopped (the router drains them). If a new instance
crashes, or they are not all up within the start timeout, the rollout fails:
its instances are stopped and the serving release keeps serving.
"""

from dataclasses import dataclass, field

PENDING, DEPLOYING, SUCCEEDED, FAILED = "pending", "deploying", "succeeded", "failed"
UP = "up"
CRASHED_STATES = ("crashed", "oom-killed")


@dataclass(frozen=True)
class ReleaseView:
    id: int
    version: int
    status: str
    process_types: tuple[str, ...]


@dataclass(frozen=True)
class InstanceView:
    id: int
    release_id: int
    process_type: str
    number: int
    size: str
    state: str
    created_at: float
    exit_code: int | None = None


@dataclass
class Plan:
    create: list[tuple[str, int, str]] = field(default_factory=list)  # (type, number, size)
    stop: list[int] = field(default_factory=list)  # instance ids
    status: tuple[str, str] | None = None  # new (status, message) of the target release


def plan_app(
    target: ReleaseView | None,
    serving: ReleaseView | None,
    formation: dict[str, tuple[int, str]],
    running: list[InstanceView],
    *,
    now: float,
    start_timeout: float,
) -> Plan:
    """``running`` holds the app's instances whose desired state is running."""
    plan = Plan()
    if target is None:
        plan.stop = [i.id for i in running]
        return plan
    keep_old = serving is not None and serving.id != target.id and target.status != SUCCEEDED
    new = [i for i in running if i.release_id == target.id]
    for instance in running:
        if instance.release_id != target.id and not (keep_old and instance.release_id == serving.id):
            plan.stop.append(instance.id)
    wanted = wanted_instances(target, formation)
    reconcile_formation(plan, wanted, new)
    if target.status in (PENDING, DEPLOYING):
        judge_rollout(plan, target, serving, wanted, new, running, now=now, start_timeout=start_timeout)
    return plan


def wanted_instances(target: ReleaseView, formation: dict[str, tuple[int, str]]) -> dict[tuple[str, int], str]:
    wanted = {}
    for process_type in target.process_types:
        quantity, size = formation.get(process_type, (0, "small"))
        for number in range(1, quantity + 1):
            wanted[(process_type, number)] = size
    return wanted


def reconcile_formation(plan: Plan, wanted: dict, new: list[InstanceView]) -> None:
    """Scale: start what is missing, stop what is extra; a size change replaces the instance."""
    have = {}
    for instance in new:
        key = (instance.process_type, instance.number)
        if key in wanted and wanted[key] == instance.size and key not in have:
            have[key] = instance
        else:
            plan.stop.append(instance.id)
    plan.create = [(t, n, size) for (t, n), size in sorted(wanted.items()) if (t, n) not in have]


def judge_rollout(plan, target, serving, wanted, new, running, *, now, start_timeout) -> None:
    live = [i for i in new if i.id not in plan.stop]
    crashed = [i for i in live if i.state in CRASHED_STATES]
    if crashed:
        first = crashed[0]
        how = "was killed for running out of memory" if first.state == "oom-killed" else f"exited with code {first.exit_code}"
        fail(plan, target, live, f"{first.process_type}.{first.number} {how} while starting")
    elif not plan.create and all(i.state == UP for i in live):
        plan.status = (SUCCEEDED, "")
        if serving is not None and serving.id != target.id:
            plan.stop.extend(i.id for i in running if i.release_id == serving.id and i.id not in plan.stop)
    elif live and now - min(i.created_at for i in live) > start_timeout:
        waiting = [f"{i.process_type}.{i.number}" for i in live if i.state != UP]
        fail(plan, target, live, f"{', '.join(waiting)} did not become healthy within {start_timeout:g}s")
    elif target.status == PENDING:
        plan.status = (DEPLOYING, "")


def fail(plan: Plan, target: ReleaseView, live: list[InstanceView], reason: str) -> None:
    plan.status = (FAILED, reason)
    plan.create = []
    plan.stop.extend(i.id for i in live if i.id not in plan.stop)
