"""Applying plan_app to one app in the database, in one transaction."""

import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.platform.actions.events import record
import math

from paas.platform.control.plan import (
    FAILED,
    SUCCEEDED,
    CanaryView,
    FormationView,
    RELEASE_PHASE,
    InstanceView,
    ReleaseView,
    plan_app,
)
from paas.platform.models import App, Canary, Instance, Release
from paas.platform.sizes import get_size


def release_view(release: Release | None) -> ReleaseView | None:
    if release is None:
        return None
    return ReleaseView(release.id, release.version, release.status, tuple(sorted(release.process_types)))


def target_release(app: App) -> Release | None:
    """The newest release that has code and has not failed: what the app should run."""
    return (app.releases.exclude(status=Release.FAILED).filter(build__isnull=False)
            .exclude(build__slug_digest="").select_related("build").order_by("-version").first())


def serving_release(app: App) -> Release | None:
    """The newest release whose rollout succeeded: the one taking traffic."""
    return app.releases.filter(status=Release.SUCCEEDED).select_related("build").order_by("-version").first()


def canary_view(app: App, formation: dict) -> CanaryView | None:
    """The canary runs its share of the web formation's instances, at least one."""
    canary = Canary.objects.filter(app=app).select_related("release__build").first()
    if canary is None or canary.release.build_id is None:
        return None
    web = formation.get("web", FormationView(0)).quantity
    return CanaryView(release_view(canary.release), max(1, math.ceil(web * canary.percent / 100)))


def release_phase_done(app: App, target: Release) -> bool:
    """A Procfile ``release`` command runs once, to success, before the release rolls out.

    Until it has, the app stays as it is; if it fails, the release fails and the
    live release keeps serving.
    """
    if target.status != Release.PENDING or RELEASE_PHASE not in target.process_types:
        return True
    phase = app.instances.filter(release=target, kind=Instance.ONEOFF, process_type=RELEASE_PHASE).first()
    if phase is None:
        Instance.objects.create(
            name=f"{app.name}-v{target.version}-release-{secrets.token_hex(3)}", app=app, release=target,
            process_type=RELEASE_PHASE, number=1, command=target.build.process_types[RELEASE_PHASE],
            size="small", memory_mb=get_size("small").memory_mb, cpus=get_size("small").cpus, kind=Instance.ONEOFF)
        record(None, "release.phase", f"v{target.version}: running the release command before the rollout", app=app)
        return False
    if phase.desired_state == Instance.RUNNING:
        return False
    if phase.exit_code == 0 and phase.state == Instance.STOPPED:
        return True
    how = "ran out of memory" if phase.state == Instance.OOM_KILLED else f"exited with code {phase.exit_code}"
    target.status, target.status_message = FAILED, f"the release command {how}"
    target.save(update_fields=["status", "status_message"])
    record(None, "deploy.failed", f"v{target.version} failed to deploy: the release command {how}", app=app,
           version=target.version)
    return False


def reconcile_app(app_id: int, now: float) -> bool:
    """Apply this tick's plan to one app; True when instances were created or stopped, or the
    rollout changed state (a release that went live has old instances to stop on the next tick)."""
    with transaction.atomic():
        app = App.objects.select_for_update(skip_locked=True).filter(pk=app_id).first()
        if app is None:
            return False  # another control loop holds it this tick, or it was destroyed
        target, serving = target_release(app), serving_release(app)
        if target is not None and not release_phase_done(app, target):
            return False  # the release command's instance is placed (and agents woken) like any other
        running = list(app.instances.filter(desired_state=Instance.RUNNING, kind=Instance.SERVICE))
        views = [InstanceView(i.id, i.release_id, i.process_type, i.number, i.size, i.state,
                              i.created_at.timestamp(), i.exit_code, i.generation,
                              i.started_at.timestamp() if i.started_at else None) for i in running]
        formation = {f.process_type: FormationView(f.quantity, f.size, f.stopped, f.generation)
                     for f in app.formation.all()}
        plan = plan_app(release_view(target), release_view(serving), formation, views,
                        now=now, start_timeout=settings.PAAS_START_TIMEOUT_S,
                        prepare_timeout=settings.PAAS_PREPARE_TIMEOUT_S, canary=canary_view(app, formation))
        apply_plan(app, target, plan)
        return bool(plan.create or plan.stop or plan.status)


def apply_plan(app: App, target: Release | None, plan) -> None:
    if plan.stop:
        Instance.objects.filter(pk__in=plan.stop).update(desired_state=Instance.STOP, updated_at=timezone.now())
    for start in plan.create:
        release = target if start.release_id is None else Release.objects.select_related("build").get(
            pk=start.release_id)
        create_instance(app, release, start.process_type, start.number, start.size, start.generation)
    if plan.status is not None and target is not None:
        status, message = plan.status
        target.status, target.status_message = status, message
        target.save(update_fields=["status", "status_message"])
        if status in (SUCCEEDED, FAILED):
            verb = "is live" if status == SUCCEEDED else f"failed to deploy: {message}"
            record(None, f"deploy.{status}", f"v{target.version} {verb}", app=app, version=target.version)


def create_instance(app: App, release: Release, process_type: str, number: int, size_name: str,
                    generation: int = 0) -> Instance:
    size = get_size(size_name)
    return Instance.objects.create(
        name=f"{app.name}-v{release.version}-{process_type}-{number}-{secrets.token_hex(3)}",
        app=app, release=release, process_type=process_type, number=number, generation=generation,
        command=release.build.process_types.get(process_type, ""),
        size=size.name, memory_mb=size.memory_mb, cpus=size.cpus,
    )
