"""Setting and removing autoscalers."""

from django.conf import settings
from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.actions.formation import known_process_types
from paas.platform.control.wake import wake
from paas.platform.exceptions import Invalid, NotFound
from paas.platform.models import App, Autoscale
from paas.platform.names import check_process_type


def number(data: dict, key: str, kind, low, high, required=False):
    value = data.get(key)
    if value is None:
        if required:
            raise Invalid(f"{key} is required")
        return None
    if kind is int and type(value) is not int or kind is float and type(value) not in (int, float):
        raise Invalid(f"{key} must be a {'whole ' if kind is int else ''}number")
    if not low <= value <= high:
        raise Invalid(f"{key} must be from {low} to {high}, got {value}")
    return kind(value)


def set_autoscale(user, app: App, process_type: str, data: dict) -> Autoscale:
    check_process_type(process_type)
    if process_type not in known_process_types(app):
        raise Invalid(f"unknown process type {process_type} for {app.name}")
    limit = settings.PAAS_MAX_INSTANCES_PER_TYPE
    low = number(data, "min", int, 0, limit, required=True)
    high = number(data, "max", int, 1, limit, required=True)
    rps = number(data, "target_rps", float, 0.1, 1e6)
    p95 = number(data, "target_p95_ms", int, 1, 600_000)
    if low > high:
        raise Invalid(f"min ({low}) is above max ({high})")
    if rps is None and p95 is None and low != 0:
        raise Invalid("give a target: target_rps and/or target_p95_ms (or min 0 to only scale idle apps to zero)")
    if low == 0 and process_type != "web":
        raise Invalid("only web processes can scale to zero: a request is what wakes them")
    with transaction.atomic():
        scaler, _ = Autoscale.objects.update_or_create(app=app, process_type=process_type, defaults={
            "min_quantity": low, "max_quantity": high, "target_rps": rps, "target_p95_ms": p95})
        targets = ", ".join(t for t in (rps and f"{rps:g} req/s", p95 and f"p95 {p95} ms") if t) or "idle only"
        record(user, "autoscale.set", f"autoscaling {process_type} {low}..{high} ({targets})", app=app)
        transaction.on_commit(wake)
    return scaler


def remove_autoscale(user, app: App, process_type: str) -> None:
    with transaction.atomic():
        deleted, _ = Autoscale.objects.filter(app=app, process_type=process_type).delete()
        if not deleted:
            raise NotFound(f"{process_type} of {app.name} is not autoscaled")
        record(user, "autoscale.off", f"autoscaling of {process_type} turned off", app=app)
