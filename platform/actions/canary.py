"""Canary deploys: a release takes a share of web traffic, then is promoted or aborted."""

from django.db import IntegrityError, transaction

from paas.platform.actions.events import record
from paas.platform.actions.releases import create_release, get_release
from paas.platform.control.deploys import serving_release
from paas.platform.control.wake import wake
from paas.platform.exceptions import Conflict, Invalid, NotFound
from paas.platform.models import App, Canary, Release


def start_canary(user, app: App, version, percent) -> Canary:
    if type(percent) is not int or not 1 <= percent <= 99:
        raise Invalid("percent must be a whole number from 1 to 99")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        release = get_release(app, version)
        if release.build_id is None or "web" not in release.process_types:
            raise Invalid(f"v{release.version} has no web process to send traffic to")
        serving = serving_release(app)
        if serving is None:
            raise Invalid(f"{app.name} has no live release to split traffic with; deploy it first")
        if serving.pk == release.pk:
            raise Invalid(f"v{release.version} is already the live release")
        try:
            canary = Canary.objects.create(app=app, release=release, percent=percent)
        except IntegrityError:
            raise Conflict(f"{app.name} already has a canary; promote or abort it first") from None
        record(user, "canary.start", f"canary v{release.version} takes {percent}% of traffic", app=app)
        transaction.on_commit(wake)
    return canary


def get_canary(app: App) -> Canary:
    canary = Canary.objects.filter(app=app).select_related("release").first()
    if canary is None:
        raise NotFound(f"{app.name} has no canary")
    return canary


def promote_canary(user, app: App) -> Release:
    """All traffic to the canary's code and config: a new release, rolled out as usual."""
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        canary = get_canary(app)
        trial = canary.release
        canary.delete()
        record(user, "canary.promote", f"canary v{trial.version} promoted", app=app)
        return create_release(app, user=user, build=trial.build, config=trial.config,
                              summary=f"Promote canary v{trial.version}", rollback_of=trial)


def abort_canary(user, app: App) -> None:
    with transaction.atomic():
        canary = get_canary(App.objects.select_for_update().get(pk=app.pk))
        canary.delete()
        record(user, "canary.abort", f"canary v{canary.release.version} aborted", app=app)
        transaction.on_commit(wake)
