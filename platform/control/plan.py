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
RELEASE_PHASE = "release"
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
    generation: int = 0
    started_at: float | None = None  # when its host started its process (after fetching its image)


@dataclass(frozen=True)
class FormationView:
    """Desired state of one process type. A stopped type runs nothing; a restart bumps generation."""

    quantity: int
    size: str = "small"
    stopped: bool = False
    generation: int = 0


@dataclass(frozen=True)
class CanaryView:
    """A release given a share of web traffic beside the serving one."""

    release: ReleaseView
    instances: int


@dataclass(frozen=True)
class Start:
    """An instance to create: of the target release, or of the release named (a canary)."""

    process_type: str
    number: int
    size: str
    generation: int = 0
    release_id: int | None = None


@dataclass
class Plan:
    create: list[Start] = field(default_factory=list)
    stop: list[int] = field(default_factory=list)  # instance ids
    status: tuple[str, str] | None = None  # new (status, message) of the target release


def plan_app(
    target: ReleaseView | None,
    serving: ReleaseView | None,
    formation: dict[str, FormationView],
    running: list[InstanceView],
    *,
    now: float,
    start_timeout: float,
    prepare_timeout: float = 0.0,
    canary: CanaryView | None = None,
) -> Plan:
    """``running`` holds the app's instances whose desired state is running."""
    plan = Plan()
    if target is None:
        plan.stop = [i.id for i in running]
        return plan
    if canary is not None and canary.release.id != target.id:
        running = keep_canary(plan, canary, formation, running)
    keep_old = serving is not None and serving.id != target.id and target.status != SUCCEEDED
    new = [i for i in running if i.release_id == target.id]
    for instance in running:
        if instance.release_id != target.id and not (keep_old and instance.release_id == serving.id):
            plan.stop.append(instance.id)
    wanted = wanted_instances(target, formation)
    reconcile_formation(plan, wanted, new)
    if target.status in (PENDING, DEPLOYING):
        judge_rollout(plan, target, new, now=now, start_timeout=start_timeout, prepare_timeout=prepare_timeout)
    return plan


def keep_canary(plan: Plan, canary: CanaryView, formation: dict, running: list[InstanceView]) -> list[InstanceView]:
    """Run the canary's web instances; return the instances left for the normal plan."""
    size = formation.get("web", FormationView(0)).size
    ours = sorted((i for i in running if i.release_id == canary.release.id), key=lambda i: (i.number, i.id))
    wanted = {n for n in range(1, canary.instances + 1)}
    seen = set()
    for instance in ours:
        if instance.process_type == "web" and instance.number in wanted and instance.number not in seen:
            seen.add(instance.number)
        else:
            plan.stop.append(instance.id)
    plan.create.extend(Start("web", n, size, 0, canary.release.id) for n in sorted(wanted - seen))
    return [i for i in running if i.release_id != canary.release.id]


def wanted_instances(target: ReleaseView, formation: dict[str, FormationView]) -> dict[tuple[str, int], FormationView]:
    wanted = {}
    for process_type in target.process_types:
        if process_type == RELEASE_PHASE:
            continue  # runs once per release before the rollout, never as part of the formation
        spec = formation.get(process_type, FormationView(0))
        for number in range(1, (0 if spec.stopped else spec.quantity) + 1):
            wanted[(process_type, number)] = spec
    return wanted


def reconcile_formation(plan: Plan, wanted: dict, new: list[InstanceView]) -> None:
    """Scale: start what is missing, stop what is extra; a size change replaces the instance.

    A restart (a newer generation) replaces instances one at a time per process
    type: the replacement starts beside the old one, which stops once it is up.
    """
    slots: dict[tuple[str, int], list[InstanceView]] = {}
    for instance in new:
        key = (instance.process_type, instance.number)
        if key in wanted and wanted[key].size == instance.size:
            slots.setdefault(key, []).append(instance)
        else:
            plan.stop.append(instance.id)
    rolling = restarting_types(wanted, slots)
    for key, spec in sorted(wanted.items()):
        current = sorted(slots.get(key, []), key=lambda i: (i.generation, i.id))
        fresh = [i for i in current if i.generation >= spec.generation]
        stale = [i for i in current if i.generation < spec.generation]
        plan.stop.extend(i.id for i in fresh[1:])  # duplicates: keep one
        if not current:
            plan.create.append(Start(key[0], key[1], spec.size, spec.generation))
        elif stale and fresh and fresh[0].state == UP:
            plan.stop.extend(i.id for i in stale)
        elif stale and not fresh and key[0] not in rolling:
            plan.create.append(Start(key[0], key[1], spec.size, spec.generation))
            rolling.add(key[0])


def restarting_types(wanted: dict, slots: dict) -> set[str]:
    """Process types with a replacement still starting: the rolling restart waits for it."""
    busy = set()
    for key, spec in wanted.items():
        for instance in slots.get(key, []):
            stale_beside = any(other.generation < spec.generation for other in slots[key])
            if instance.generation >= spec.generation and instance.state != UP and stale_beside:
                busy.add(key[0])
    return busy


def judge_rollout(plan: Plan, target: ReleaseView, new: list[InstanceView], *, now: float,
                  start_timeout: float, prepare_timeout: float = 0.0) -> None:
    """Succeed when every new instance is up; fail on a crash or a timeout (``late``)."""
    live = [i for i in new if i.id not in plan.stop]
    crashed = [i for i in live if i.state in CRASHED_STATES]
    overdue = late(live, now, start_timeout, prepare_timeout)
    if crashed:
        first = crashed[0]
        oom = first.state == "oom-killed"
        how = "was killed for running out of memory" if oom else f"exited with code {first.exit_code}"
        fail(plan, live, f"{first.process_type}.{first.number} {how} while starting")
    elif not any(c.release_id is None for c in plan.create) and all(i.state == UP for i in live):
        # Traffic moves when this tick publishes the route table; the old instances
        # stop on a later tick, once the router no longer sends them requests.
        plan.status = (SUCCEEDED, "")
    elif overdue:
        fail(plan, live, overdue)
    elif target.status == PENDING:
        plan.status = (DEPLOYING, "")


def late(live: list[InstanceView], now: float, start_timeout: float, prepare_timeout: float) -> str:
    """Why the rollout is out of time, or "". The start timeout is the app's: it counts from the
    start of its process, as Heroku's boot timeout does. Before that its host fetches the release's
    image (on the Docker backend, a first import of a stack into the engine): ``prepare_timeout``
    more from the instance's creation bounds that wait."""
    booting = [i for i in live if i.state != UP and i.started_at is not None]
    if any(now - max(i.started_at, i.created_at) > start_timeout for i in booting):
        return f"{names(booting)} did not become healthy within {start_timeout:g}s"
    unstarted = [i for i in live if i.state != UP and i.started_at is None]
    if any(now - i.created_at > start_timeout + prepare_timeout for i in unstarted):
        return f"{names(unstarted)} did not start within {start_timeout + prepare_timeout:g}s of being placed"
    return ""


def names(instances: list[InstanceView]) -> str:
    return ", ".join(f"{i.process_type}.{i.number}" for i in instances)


def fail(plan: Plan, live: list[InstanceView], reason: str) -> None:
    plan.status = (FAILED, reason)
    plan.create = [c for c in plan.create if c.release_id is not None]
    plan.stop.extend(i.id for i in live if i.id not in plan.stop)
