"""Releases: every build and every config change makes vN+1; rollback makes one too."""

from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.exceptions import NotFound, Invalid
from paas.platform.models import App, Build, Config, Release


def create_release(app: App, *, user, build: Build | None, config: Config, summary: str, rollback_of=None) -> Release:
    """Add the next numbered release. The caller holds a lock on the app row."""
    last = app.releases.order_by("-version").values_list("version", flat=True).first() or 0
    release = Release.objects.create(
        app=app,
        version=last + 1,
        build=build,
        config=config,
        summary=summary,
        rollback_of=rollback_of,
        created_by=user,
    )
    record(user, "release.create", f"v{release.version}: {summary}", app=app, version=release.version)
    # Naming the app: its new instances are made and placed by the loop's fast pass of this app alone,
    # not after a full tick's reconcile of every app (what a deploy's user waits on); the full tick follows.
    app_id = app.pk
    transaction.on_commit(lambda: wake(app_id))
    return release


def get_release(app: App, version) -> Release:
    number = parse_version(version)
    try:
        return app.releases.select_related("build", "config").get(version=number)
    except Release.DoesNotExist:
        raise NotFound(f"app {app.name!r} has no release v{number}") from None


def parse_version(version) -> int:
    text = str(version).strip()
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9 or int(digits) < 1:
        raise Invalid(f"{version!r} is not a release version (like v3 or 3)")
    return int(digits)


def rollback(user, app: App, version=None) -> Release:
    """Make a new release with the build and config of ``version`` (default: the one before the latest)."""
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        latest = app.latest_release()
        if version is None:
            if latest is None or latest.version < 2:
                raise Invalid(f"app {app.name!r} has no earlier release to roll back to")
            target = get_release(app, latest.version - 1)
        else:
            target = get_release(app, version)
        return create_release(
            app,
            user=user,
            build=target.build,
            config=target.config,
            summary=f"Rollback to v{target.version}",
            rollback_of=target,
        )
