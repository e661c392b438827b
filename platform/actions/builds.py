"""Starting builds from pushes, and reading build history."""


from django.db import transaction
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, NotFound
from paas.platform.models import App, Build


def start_build(user, app: App, commit: str, ref: str) -> Build:
    """Record a build and queue it once the row is committed (never before)."""
    from paas.platform.builds.recovery import enqueue

    with transaction.atomic():
        build = Build.objects.create(app=app, commit=commit, ref=ref, created_by=user, stack=app.stack)
        record(user, "build.start", f"push of {commit[:7]} to {ref.rsplit('/', 1)[-1]} started a build", app=app,
               build=str(build.uuid))
        # Redis away: the control loop queues it once Redis is back (recovery.requeue_lost_pending).
        transaction.on_commit(lambda: enqueue(build.pk, build.uuid), robust=True)
    return build


def get_build(app: App, build_id: str) -> Build:
    """A build by its id or a unique prefix of it (as ``paas builds`` shows)."""
    text = str(build_id).strip().lower()
    if not (4 <= len(text) <= 36) or not set(text) <= set("0123456789abcdef-"):
        raise NotFound(f"app {app.name} has no build {build_id!r}")
    matches = list(app.builds.filter(uuid__startswith=text)[:2])
    if len(matches) != 1:
        raise NotFound(f"app {app.name} has no build {build_id!r}" if not matches else f"{build_id!r} is ambiguous")
    return matches[0]


def cancel_build(user, build: Build) -> Build:
    """Stop a build: the worker sees the flag between output lines and kills its step."""
    from paas.platform.builds.output import request_cancel

    with transaction.atomic():
        build = Build.objects.select_for_update().get(pk=build.pk)
        if build.status in Build.FINISHED:
            raise Conflict(f"build {str(build.uuid)[:8]} has already {build.status}")
        request_cancel(build.uuid)
        if build.status == Build.PENDING:
            # Not started: the worker will find it finished and skip it.
            build.status = Build.CANCELLED
            build.finished_at = timezone.now()
            build.save(update_fields=["status", "finished_at"])
        record(user, "build.cancel", f"cancelled build {str(build.uuid)[:8]}", app=build.app)
    return build


def clear_build_cache(user, app: App) -> None:
    from paas.platform.builds import cachedir

    with transaction.atomic():
        cachedir.remove(app.name)
        record(user, "build.cache.clear", "cleared the build cache", app=app)
