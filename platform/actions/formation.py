"""Scaling: desired instance counts and sizes per process type."""

from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.exceptions import Invalid
from paas.platform.models import App, Formation
from paas.platform.names import check_process_type
from paas.platform.sizes import DEFAULT_SIZE, get_size


@dataclass(frozen=True)
class ScaleChange:
    process_type: str
    quantity: int | None
    size: str | None
    change: int | None = None   # relative (ps:scale web=+1): applied to the count under the app's lock


def parse_scale_changes(changes) -> list[ScaleChange]:
    """Check ``{type: {"quantity": n | "change": ±n, "size": s}}`` input; either may be absent."""
    if not isinstance(changes, dict) or not changes:
        raise Invalid('give at least one process type, like {"web": {"quantity": 2}}')
    limit = settings.PAAS_MAX_INSTANCES_PER_TYPE
    parsed = []
    for process_type, spec in changes.items():
        check_process_type(process_type)
        keys = {"quantity", "change", "size"}
        if not isinstance(spec, dict) or not (keys & spec.keys()) or spec.keys() - keys or \
                {"quantity", "change"} <= spec.keys():
            raise Invalid(f"{process_type}: give quantity (or change) and/or size")
        quantity, change = spec.get("quantity"), spec.get("change")
        if quantity is not None and (type(quantity) is not int or not 0 <= quantity <= limit):
            raise Invalid(f"{process_type}: quantity must be a whole number from 0 to {limit}, got {quantity!r}")
        if change is not None and (type(change) is not int or not -limit <= change <= limit):
            raise Invalid(f"{process_type}: change must be a whole number from -{limit} to {limit}, got {change!r}")
        size = spec.get("size")
        if size is not None:
            get_size(size)
        parsed.append(ScaleChange(process_type, quantity, size, change))
    return parsed


def scale(user, app: App, changes) -> list[Formation]:
    """Record the desired formation; Platform Control converges the instances to it."""
    parsed = parse_scale_changes(changes)
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        known = known_process_types(app)
        unknown = [c.process_type for c in parsed if c.process_type not in known]
        if unknown:
            have = ", ".join(sorted(known)) or "none yet (push code first)"
            raise Invalid(f"unknown process type {', '.join(unknown)} for {app.name}; its process types: {have}")
        for change in parsed:
            apply_change(app, change)
        summary = ", ".join(describe(f) for f in app.formation.filter(process_type__in=[c.process_type for c in parsed]))
        record(user, "formation.scale", f"scaled to {summary}", app=app)
        transaction.on_commit(partial(wake, app.pk))
        return list(app.formation.all())


def apply_change(app: App, change: ScaleChange) -> None:
    formation, _ = Formation.objects.get_or_create(
        app=app, process_type=change.process_type, defaults={"quantity": 0, "size": DEFAULT_SIZE}
    )
    if change.quantity is not None:
        formation.quantity = change.quantity
    if change.change is not None:
        quantity, limit = formation.quantity + change.change, settings.PAAS_MAX_INSTANCES_PER_TYPE
        if not 0 <= quantity <= limit:
            raise Invalid(f"{change.process_type}: {formation.quantity} {change.change:+d} is {quantity}, "
                          f"outside 0 to {limit}")
        formation.quantity = quantity
    if change.size is not None:
        formation.size = change.size
    formation.save()


def known_process_types(app: App, latest=None) -> set[str]:
    """Types that can be scaled: the latest release's, but its once-per-release ``release`` command.

    ``latest``: the app's latest release with its build, when the caller has it loaded already."""
    release = latest or app.latest_release()
    return set(release.process_types) - {"release"} if release else set()


def describe(formation: Formation) -> str:
    return f"{formation.process_type}={formation.quantity}:{formation.size}"


def target_formations(app: App, process_type: str | None) -> list[Formation]:
    """The formation rows a ps command acts on: one type, or every type the app runs."""
    if process_type is not None:
        check_process_type(process_type)
        if process_type not in known_process_types(app):
            raise Invalid(f"unknown process type {process_type} for {app.name}")
        return [Formation.objects.get_or_create(app=app, process_type=process_type)[0]]
    return [Formation.objects.get_or_create(app=app, process_type=t)[0] for t in sorted(known_process_types(app))]


def restart(user, app: App, process_type: str | None = None) -> list[Formation]:
    """Replace every instance (of one type), one at a time, each new one up before its old one stops."""
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        rows = target_formations(app, process_type)
        for formation in rows:
            formation.generation += 1
            formation.save(update_fields=["generation", "updated_at"])
        record(user, "ps.restart", f"restarting {process_type or 'all processes'}", app=app)
        transaction.on_commit(wake)
    return rows


def set_stopped(user, app: App, process_type: str | None, stopped: bool) -> list[Formation]:
    """ps:stop / ps:start: run nothing (or run again) while keeping the scale."""
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        rows = target_formations(app, process_type)
        for formation in rows:
            formation.stopped = stopped
            formation.save(update_fields=["stopped", "updated_at"])
        verb = "stopped" if stopped else "started"
        record(user, f"ps.{'stop' if stopped else 'start'}", f"{verb} {process_type or 'all processes'}", app=app)
        transaction.on_commit(wake)
    return rows
