"""One-off processes (paas run): the app's current release and config, run once."""

from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.control.deploys import serving_release, target_release
from paas.platform.control.wake import wake
from paas.platform.exceptions import Invalid, NotFound
from paas.platform.models import App, Instance
from paas.platform.names import check_instance_name, check_text
from paas.platform.sizes import get_size

MAX_COMMAND = 8192
ATTACH_MODES = ("tty", "pipe", "")


def start_run(user, app: App, command, *, size="small", attach="", time_limit_s=None, release=None) -> Instance:
    """A one-off of `command` on the serving release (or `release`: app.json's postdeploy runs on
    the first push's release before it serves)."""
    if not isinstance(command, str) or not command.strip() or len(command) > MAX_COMMAND:
        raise Invalid(f"give a command to run (at most {MAX_COMMAND} characters)")
    check_text(command, "the command", multiline=True)
    if attach not in ATTACH_MODES:
        raise Invalid('attach must be "tty", "pipe" or empty (detached)')
    limit = settings.PAAS_RUN_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    if type(limit) is not int or not 1 <= limit <= 86400:
        raise Invalid("time_limit_s must be a whole number of seconds from 1 to 86400")
    chosen = get_size(size)
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        release = release or serving_release(app) or target_release(app)
        if release is None or release.build is None:
            raise Invalid(f"{app.name} has no code to run yet: git push paas main first")
        number = (app.instances.filter(kind=Instance.ONEOFF).aggregate(n=Max("number"))["n"] or 0) + 1
        instance = Instance.objects.create(
            name=f"{app.name}-run-{number}-{timezone.now():%H%M%S}", app=app, release=release, process_type="run",
            number=number, command=command, size=chosen.name, memory_mb=chosen.memory_mb, cpus=chosen.cpus,
            kind=Instance.ONEOFF, attach=attach, expires_at=timezone.now() + timedelta(seconds=limit),
        )
        how = "attached" if attach else "detached"
        # The command stays out of the message (and so out of the app's log stream):
        # it may hold a secret, and only the app's members see it (Event.MEMBERS_ONLY).
        record(user, "run.start", f"run.{number} ({how}, v{release.version})", app=app, command=command)
        transaction.on_commit(partial(wake, app.pk))
    return instance


def get_run(app: App, name: str) -> Instance:
    try:
        check_instance_name(name)
    except Invalid:
        raise NotFound(f"{app.name} has no run {name!r}") from None
    try:
        return app.instances.select_related("release").get(name=name, kind=Instance.ONEOFF)
    except Instance.DoesNotExist:
        raise NotFound(f"{app.name} has no run {name!r}") from None


def stop_run(user, app: App, instance: Instance) -> None:
    Instance.objects.filter(pk=instance.pk).update(desired_state=Instance.STOP, updated_at=timezone.now())
    record(user, "run.stop", f"stopped run.{instance.number}", app=app)
    wake()


def expire_runs(now=None) -> int:
    """One-offs past their time limit are stopped (the agent ends them with SIGTERM, then SIGKILL)."""
    now = now or timezone.now()
    return Instance.objects.filter(kind=Instance.ONEOFF, desired_state=Instance.RUNNING,
                                   expires_at__lt=now).update(desired_state=Instance.STOP, updated_at=now)
