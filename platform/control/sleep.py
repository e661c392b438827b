"""Apps asleep: an idle app that may scale to zero first sleeps frozen, and wakes at once.

An autoscaled web process with ``--min 0`` that served nothing for PAAS_FREEZE_IDLE_S sleeps:
its instances are frozen by their agents (runtime/sleep.py, runtime/freezer.py: no CPU,
memory kept). Only after PAAS_SCALE_TO_ZERO_IDLE_S, or sooner when a host holding a
frozen instance reports memory pressure, is it stopped (scaled to zero, autoscaling.py).

Order matters: a router must know an app is asleep before any of its instances is frozen,
or a request would wait on a frozen instance with no one to wake it. So a tick first marks
the autoscaler ``asleep`` (the route entry's ``frozen`` flag comes from it), and only once
that table is published marks the instances ``frozen`` for their agents (``freeze_published``).
A wake (the router's message on a request) clears both at once; the agents have thawed the
instances on the same message already.
"""

from django.conf import settings

from paas.platform.actions.events import record
from paas.platform.control.autoscale_policy import sleeps
from paas.platform.models import App, Autoscale, Instance
from paas.platform.redis_client import get_redis
from paas.runtime.sleep import pressure_key


def _sleepers(**filters):
    """The instances an app's sleep applies to: its web processes that are meant to run."""
    return Instance.objects.filter(process_type="web", kind=Instance.SERVICE, desired_state=Instance.RUNNING,
                                   **filters)


def converge(scaler: Autoscale, quantity: int, idle: float, since: float = float("inf")) -> bool:
    """Put the scaler's app to sleep or wake it as its idleness says; True when that changed."""
    want = scaler.process_type == "web" and sleeps(scaler.min_quantity, quantity, idle, settings.PAAS_FREEZE_IDLE_S,
                                                   since)
    if scaler.asleep == want:
        return False
    scaler.asleep = want
    scaler.save(update_fields=["asleep", "updated_at"])
    if not want:
        _sleepers(app=scaler.app, frozen=True).update(frozen=False)
    message = f"no requests for {idle:.0f}s: asleep (frozen)" if want else "awake"
    record(None, "sleep" if want else "wake", message, app=scaler.app, process_type=scaler.process_type)
    return True


def freeze_published() -> int:
    """After the route table went out with the apps' ``frozen`` flags: let the agents freeze."""
    return _sleepers(frozen=False, app__autoscalers__process_type="web",
                     app__autoscalers__asleep=True).update(frozen=True)


def wake(app_name: str) -> bool:
    """A request for the app arrived: awake from now on; True when it was asleep."""
    woke = Autoscale.objects.filter(app__name=app_name, process_type="web", asleep=True).update(asleep=False)
    Instance.objects.filter(app__name=app_name, frozen=True).update(frozen=False)
    return woke > 0


def asleep(app: App) -> bool:
    """The route entry's ``frozen`` (from prefetched autoscalers, as ``scaled_to_zero`` is)."""
    return any(s.process_type == "web" and s.asleep for s in app.autoscalers.all())


def squeezed(app: App) -> bool:
    """True when one of the app's frozen instances is on a host that reports memory pressure."""
    hosts = {h for h in Instance.objects.filter(app=app, frozen=True).values_list("host__name", flat=True) if h}
    keys = [pressure_key(settings.PAAS_REDIS_PREFIX, host) for host in sorted(hosts)]
    return bool(keys) and get_redis().exists(*keys) > 0
