"""Starting builds from pushes, and reading build history."""

from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.exceptions import NotFound
from paas.platform.models import App, Build


def start_build(user, app: App, commit: str, ref: str) -> Build:
    """Record a build and queue it once the row is committed (never before)."""
    from paas.platform.tasks.builds import build as build_task

    with transaction.atomic():
        build = Build.objects.create(app=app, commit=commit, ref=ref, created_by=user, stack=app.stack)
        record(user, "build.start", f"push of {commit[:7]} to {ref.rsplit('/', 1)[-1]} started a build", app=app,
               build=str(build.uuid))
        transaction.on_commit(lambda: build_task.apply_async(args=[build.pk], queue="builds"))
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
