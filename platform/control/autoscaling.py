"""Running the autoscalers each tick, and waking apps that scaled to zero."""

import json
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.contracts import redis_keys
from paas.platform.actions.events import record
from paas.platform.control.autoscale_policy import Metrics, Policy, decide
from paas.platform.models import App, Autoscale, Formation
from paas.platform.redis_client import get_redis


SNAPSHOT_MAX_AGE_S = 120  # the router's key lifetime: a node silent this long has stopped


def metrics_key(app_name: str) -> str:
    """The hash each router node writes the app's last-minute figures into (router/ROUTES.md)."""
    return redis_keys.router_metrics(settings.PAAS_REDIS_PREFIX, app_name)


def read_metrics(app_name: str, now: float | None = None) -> tuple[Metrics | None, float | None]:
    """Every router node's last-minute snapshot (router/ROUTES.md) added up, and the newest one's time."""
    raw = get_redis().hgetall(metrics_key(app_name))
    nodes = []
    for value in raw.values():
        try:
            nodes.append(json.loads(value))
        except ValueError:
            continue  # a torn or foreign field: the other nodes still count
    return combine_nodes(nodes, time.time() if now is None else now)


def combine_nodes(nodes: list[dict], now: float) -> tuple[Metrics | None, float | None]:
    """Requests and rates add up across routers; p95 is their request-weighted mean."""
    fresh = []
    for node in nodes:
        try:
            figures = (float(node["rps"]), float(node["p95_ms"]), int(float(node["requests"])), float(node["ts"]))
        except (KeyError, TypeError, ValueError):
            continue
        if now - figures[3] <= SNAPSHOT_MAX_AGE_S:
            fresh.append(figures)
    if not fresh:
        return None, None
    requests = sum(f[2] for f in fresh)
    p95 = sum(f[1] * f[2] for f in fresh) / requests if requests else 0.0
    return Metrics(sum(f[0] for f in fresh), p95, requests), max(f[3] for f in fresh)


def idle_key(app_name: str) -> str:
    return redis_keys.autoscale_idle_since(settings.PAAS_REDIS_PREFIX, app_name)


def idle_seconds(app_name: str, metrics: Metrics | None, now: float) -> float:
    """How long the app has served nothing, remembered in Redis across control-loop restarts."""
    key = idle_key(app_name)
    client = get_redis()
    if metrics is not None and metrics.requests > 0:
        client.delete(key)
        return 0.0
    client.set(key, str(now), nx=True, ex=86400)
    return now - float(client.get(key) or now)


def run_autoscalers(now: float | None = None) -> list[str]:
    now = now or time.time()
    changes = []
    for scaler in Autoscale.objects.select_related("app"):
        with transaction.atomic():
            formation, _ = Formation.objects.select_for_update().get_or_create(
                app=scaler.app, process_type=scaler.process_type)
            metrics, _ = read_metrics(scaler.app.name)
            since = now - scaler.last_scaled_at.timestamp() if scaler.last_scaled_at else float("inf")
            policy = Policy(scaler.min_quantity, scaler.max_quantity, scaler.target_rps, scaler.target_p95_ms)
            idle = idle_seconds(scaler.app.name, metrics, now) if formation.quantity else 0.0
            decision = decide(formation.quantity, policy, metrics, since_last_change=since, idle_for=idle,
                              idle_to_zero=settings.PAAS_SCALE_TO_ZERO_IDLE_S)
            if decision is None or decision.quantity == formation.quantity:
                continue
            apply(scaler, formation, decision.quantity, decision.reason)
            changes.append(f"{scaler.app.name} {scaler.process_type}={decision.quantity}")
    return changes


def apply(scaler: Autoscale, formation: Formation, quantity: int, reason: str) -> None:
    before = formation.quantity
    if before == 0:
        get_redis().delete(idle_key(scaler.app.name))  # awake: idleness counts from now
    formation.quantity = quantity
    formation.save(update_fields=["quantity", "updated_at"])
    scaler.last_scaled_at = timezone.now()
    scaler.save(update_fields=["last_scaled_at", "updated_at"])
    record(None, "autoscale", f"{scaler.process_type} {before} -> {quantity}: {reason}", app=scaler.app,
           process_type=scaler.process_type, before=before, after=quantity)


def wake_app(app_name: str) -> bool:
    """A request arrived for an app scaled to zero: give its web processes one instance."""
    with transaction.atomic():
        scaler = (Autoscale.objects.select_for_update().select_related("app")
                  .filter(app__name=app_name, process_type="web").first())
        if scaler is None:
            return False
        formation, _ = Formation.objects.select_for_update().get_or_create(app=scaler.app, process_type="web")
        if formation.quantity > 0:
            return False
        apply(scaler, formation, max(1, scaler.min_quantity), "a request arrived: waking from zero")
    return True


def scaled_to_zero(app: App) -> bool:
    """True when the app's web formation is at zero because its autoscaler allows zero."""
    scaler = next((s for s in app.autoscalers.all() if s.process_type == "web"), None)
    if scaler is None or scaler.min_quantity != 0:
        return False
    return not app.formation.filter(process_type="web", quantity__gt=0).exists()
