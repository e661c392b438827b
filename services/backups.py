"""PostgreSQL backups: capture (verified), list, restore (from this app or another the user may use),
download, a daily schedule with retention (7 daily, 4 weekly).

Requests create a row and enqueue the work (services/tasks.py); ``run`` does it.
A capture is "verified" only once a scratch restore matched its counts
(pgdump.py); anything else is "failed", which is a platform event, a line
in the app's log and the platform's log alert on backups (backup_alert.py),
as is a schedule that ran late or not at all.
"""

import re
from datetime import datetime, timedelta
from datetime import timezone as tz
from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from paas.platform.actions import access
from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, Invalid, NotFound
from paas.platform.models import Addon, AddonBackup, App
from paas.services import backup_alert, pgdump

_LABEL = re.compile(r"^([br])(\d{1,6})$")
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
KEEP_DAILY, KEEP_WEEKLY = 7, 4


def raise_alert(app, action: str, message: str) -> None:
    """Record a failed or missed backup of ``app``: an event, a line in its log, and so the platform's alert on
    backups (backup_alert.py)."""
    record(None, action, backup_alert.line(message), app=app)


def root() -> Path:
    from paas.runtime import config

    return config.data_dir() / "backups"


def file_of(backup: AddonBackup) -> Path:
    return root() / str(backup.app_id) / f"{backup.label}.dump"


def database_of(app: App, name: str | None = None) -> Addon:
    """The app's PostgreSQL add-on (by add-on name or config var; the DATABASE one by default)."""
    attachments = list(app.addon_attachments.select_related("addon").filter(addon__service="postgres"))
    if name:
        attachments = [a for a in attachments if name in (a.addon.name, a.name, f"{a.name}_URL")]
    elif len(attachments) > 1:
        attachments = [a for a in attachments if a.name == "DATABASE"] or attachments
    if not attachments:
        raise NotFound(f"{app.name} has no PostgreSQL add-on{' ' + repr(name) if name else ''}: "
                       f"create one with paas addons:create postgres -a {app.name}")
    addon = attachments[0].addon
    if addon.state != Addon.AVAILABLE:
        raise Conflict(f"{addon.name} is {addon.state}: {addon.state_message}")
    return addon


def _next_number(app: App, kind: str) -> int:
    return (AddonBackup.objects.filter(app=app, kind=kind).aggregate(n=Max("number"))["n"] or 0) + 1


def capture(user, app: App, name: str | None = None, scheduled: bool = False) -> AddonBackup:
    """`pg:backups:capture`: a row now, the dump and its verification in the worker."""
    if user is not None:
        access.require_manage(user, app)
    addon = database_of(app, name)
    with transaction.atomic():
        App.objects.select_for_update().get(pk=app.pk)
        backup = AddonBackup.objects.create(app=app, addon=addon, addon_name=addon.name, number=_next_number(
            app, AddonBackup.CAPTURE), scheduled=scheduled, created_by=user)
        transaction.on_commit(lambda: _enqueue(backup.pk))
    return backup


def get_backup(user, app: App, label: str) -> AddonBackup:
    match = _LABEL.match(label or "") if isinstance(label, str) else None
    kind = {"b": AddonBackup.CAPTURE, "r": AddonBackup.RESTORE}.get(match.group(1)) if match else None
    backup = AddonBackup.objects.filter(app=app, kind=kind, number=int(match.group(2))).first() if match else None
    if backup is None:
        raise NotFound(f"{app.name} has no backup {label!r} (see paas pg:backups -a {app.name})")
    return backup


def restore(user, app: App, label: str | None = None, from_app: str | None = None,
            name: str | None = None) -> AddonBackup:
    """`pg:backups:restore [ID] [--from OTHER]`: replace the app's database with a verified backup."""
    access.require_manage(user, app)
    source_app = access.get_app(user, from_app) if from_app else app  # another team's app: 404/403 here
    if label:
        source = get_backup(user, source_app, label)
    else:
        source = AddonBackup.objects.filter(app=source_app, kind=AddonBackup.CAPTURE).first()
        if source is None:
            raise NotFound(f"{source_app.name} has no backups: capture one with paas pg:backups:capture")
    if source.kind != AddonBackup.CAPTURE or source.state != AddonBackup.VERIFIED:
        raise Conflict(f"{source.label} of {source_app.name} is {source.state}: only a verified backup is restored")
    addon = database_of(app, name)
    with transaction.atomic():
        App.objects.select_for_update().get(pk=app.pk)
        row = AddonBackup.objects.create(app=app, addon=addon, addon_name=addon.name, kind=AddonBackup.RESTORE,
                                         number=_next_number(app, AddonBackup.RESTORE), source=source,
                                         created_by=user)
        record(user, "backup.restore", f"restoring {source_app.name} {source.label} into {addon.name}", app=app)
        transaction.on_commit(lambda: _enqueue(row.pk))
    return row


def set_schedule(user, app: App, at: str | None, name: str | None = None) -> Addon:
    """`pg:backups:schedule --at HH:MM` (UTC); an empty value stops the schedule."""
    access.require_manage(user, app)
    if at and (not isinstance(at, str) or not _AT.match(at)):
        raise Invalid("give the time of the daily backup as HH:MM (UTC), such as 02:30")
    addon = database_of(app, name)
    Addon.objects.filter(pk=addon.pk).update(backup_at=at or "")
    record(user, "backup.schedule", f"daily backups of {addon.name} " + (f"at {at} UTC" if at else "stopped"),
           app=app)
    addon.backup_at = at or ""
    return addon


def run(backup_id: int) -> str:
    """The worker's side: dump + verify, or restore. Idempotent: a finished row is left alone."""
    backup = AddonBackup.objects.select_related("app", "addon", "source").filter(pk=backup_id).first()
    if backup is None or backup.state not in (AddonBackup.PENDING, AddonBackup.RUNNING):
        return "nothing to do"
    AddonBackup.objects.filter(pk=backup.pk).update(state=AddonBackup.RUNNING)
    try:
        state = _capture(backup) if backup.kind == AddonBackup.CAPTURE else _restore(backup)
    except pgdump.BackupError as error:
        _finish(backup, AddonBackup.FAILED, str(error))
        return AddonBackup.FAILED
    _finish(backup, state, "")
    if backup.kind == AddonBackup.CAPTURE and backup.scheduled:
        prune(backup.app)
    return state


def _answering(addon: Addon, timeout: float = 30.0) -> Addon:
    """The add-on as it is now, once its server answers (it may be restarting, at a new address)."""
    import time

    from paas.services.probe import answers

    deadline = time.monotonic() + timeout
    while True:
        addon.refresh_from_db()
        if answers(addon):
            return addon
        if time.monotonic() > deadline:
            raise pgdump.BackupError(f"{addon.name} does not answer ({addon.state}, server {addon.server_state})")
        time.sleep(0.5)


def _capture(backup: AddonBackup) -> str:
    if backup.addon is None:
        raise pgdump.BackupError("its add-on was destroyed before the backup ran")
    path = file_of(backup)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a redelivered task starts again
    counts = pgdump.dump(_answering(backup.addon), path)
    AddonBackup.objects.filter(pk=backup.pk).update(counts=counts, size_bytes=path.stat().st_size)
    pgdump.verify(path, counts, backup.addon, root() / "scratch")
    return AddonBackup.VERIFIED


def _restore(backup: AddonBackup) -> str:
    if backup.addon is None or backup.source is None:
        raise pgdump.BackupError("the add-on or the backup is gone")
    pgdump.restore(_answering(backup.addon), file_of(backup.source))
    return AddonBackup.SUCCEEDED


def _finish(backup: AddonBackup, state: str, message: str) -> None:
    AddonBackup.objects.filter(pk=backup.pk).update(state=state, message=message, finished_at=timezone.now())
    what = "backup" if backup.kind == AddonBackup.CAPTURE else "restore"
    if state == AddonBackup.FAILED and what == "backup":
        raise_alert(backup.app, "backup.failed", f"backup {backup.label} of {backup.addon_name} failed: {message}")
    elif state == AddonBackup.FAILED:  # a restore: its user asked for it and is told
        record(None, f"{what}.failed", f"{what} {backup.label} of {backup.addon_name} failed: {message}",
               app=backup.app)
    else:
        record(None, f"{what}.{state}", f"{what} {backup.label} of {backup.addon_name} {state}", app=backup.app)


TASK_NAME = "paas.services.tasks.backup"


def _enqueue(backup_id: int) -> None:
    # By name: the task module imports this one (services/tasks.py); the routes send it to the build queue.
    from paas.platform.celery import app

    app.send_task(TASK_NAME, args=[backup_id])


def due(now: datetime) -> list[Addon]:
    """Add-ons whose daily backup time has come today and which have not had it (plain rule).

    One filter in the database, not every add-on loaded to look at two fields (the console's
    dashboard asks on each view): schedules are zero-padded HH:MM (set_schedule's _AT), which
    compare as text as they do as times, so "its time has come" is ``backup_at <= now's HH:MM``."""
    return list(Addon.objects.filter(state=Addon.AVAILABLE, service="postgres", backup_at__lte=f"{now:%H:%M}")
                .exclude(backup_at="").exclude(backup_last_day=now.date()))


def run_schedules(now: datetime | None = None) -> int:
    """The control loop's part: start every due backup; a late one (the loop was away) is an event too."""
    now = now or datetime.now(tz.utc)
    started = 0
    for addon in due(now):
        if not Addon.objects.filter(pk=addon.pk).exclude(backup_last_day=now.date()).update(
                backup_last_day=now.date()):
            continue  # another control loop took it
        hour, minute = map(int, addon.backup_at.split(":"))
        late = now - now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if late > timedelta(minutes=15):
            raise_alert(addon.app, "backup.missed", f"the {addon.backup_at} UTC backup of {addon.name} ran "
                        f"{int(late.total_seconds() // 60)} min late")
        attachment = addon.attachments.filter(app=addon.app).first()
        try:
            capture(None, addon.app, attachment.name if attachment else addon.name, scheduled=True)
        except (NotFound, Conflict) as error:
            raise_alert(addon.app, "backup.missed", f"the scheduled backup of {addon.name} did not run: "
                        f"{error.message}")
        started += 1
    return started


def unfinished_after() -> timedelta:
    """How long a capture may wait and run before it counts as one that never ran: its queue's backlog
    (one worker, every app's 02:30 backup) and the task's two hours, with room (PAAS_BACKUP_UNFINISHED_S)."""
    import os

    return timedelta(seconds=float(os.environ.get("PAAS_BACKUP_UNFINISHED_S", "21600")))


def fail_unfinished(now: datetime | None = None) -> int:
    """The control loop's part: a capture still pending or running long after it was asked for (its worker
    is down, its task lost) is failed and alerted, never left to look as if it might still come."""
    now = now or datetime.now(tz.utc)
    limit = unfinished_after()
    failed = 0
    stale = AddonBackup.objects.filter(kind=AddonBackup.CAPTURE, state__in=(AddonBackup.PENDING, AddonBackup.RUNNING),
                                       created_at__lt=now - limit).select_related("app")
    for backup in stale:
        why = (f"it did not finish within {int(limit.total_seconds() // 3600)} h of being asked for: is the backup "
               "worker running (make up's backups program, paas-backups.service)?")
        if AddonBackup.objects.filter(pk=backup.pk, state__in=(AddonBackup.PENDING, AddonBackup.RUNNING)).update(
                state=AddonBackup.FAILED, message=why, finished_at=now):
            raise_alert(backup.app, "backup.failed", f"backup {backup.label} of {backup.addon_name} failed: {why}")
            failed += 1
    return failed


def keep(backups: list[tuple[int, datetime]]) -> set[int]:
    """Retention, plain: the newest backup of each of the last 7 days that have one, then the newest
    of each of the 4 weeks before those. `backups`: (id, created_at), any order."""
    ordered = sorted(backups, key=lambda b: b[1], reverse=True)
    days, weeks, kept = [], [], set()
    for backup_id, created in ordered:
        day = created.date()
        if day in days:
            continue
        if len(days) < KEEP_DAILY:
            days.append(day)
            kept.add(backup_id)
            continue
        week = created.isocalendar()[:2]
        if week not in weeks and len(weeks) < KEEP_WEEKLY and all(d.isocalendar()[:2] != week for d in days):
            weeks.append(week)
            kept.add(backup_id)
    return kept


def prune(app: App) -> int:
    """Delete the app's scheduled backups that retention does not keep, files first."""
    scheduled = list(AddonBackup.objects.filter(app=app, kind=AddonBackup.CAPTURE, scheduled=True,
                                                state=AddonBackup.VERIFIED))
    kept = keep([(b.pk, b.created_at) for b in scheduled])
    gone = [b for b in scheduled if b.pk not in kept]
    for backup in gone:
        file_of(backup).unlink(missing_ok=True)
        backup.delete()
    return len(gone)
