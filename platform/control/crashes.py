"""Telling crashes: each one an event and a platform log line; a crash loop said as such."""

from django.db import transaction
from django.db.models import F

from paas.platform.actions.events import record
from paas.platform.models import Instance

CRASH_LOOP = 5


def crash_message(instance: Instance) -> str:
    if instance.state == Instance.OOM_KILLED:
        how = f"was killed for using more than its {instance.memory_mb} MB"
    else:
        how = f"exited with code {instance.exit_code}"
    message = f"{instance.label} (v{instance.release.version}) {how}; restart #{instance.restarts}"
    if instance.restarts >= CRASH_LOOP:
        message += f": crash loop, restarting with backoff (see paas logs -p {instance.label})"
    return message


def report_crashes() -> int:
    """Record every crash the agents reported since the last tick; return how many."""
    told = 0
    with transaction.atomic():
        rows = (Instance.objects.select_for_update(skip_locked=True)
                .filter(restarts__gt=F("restarts_reported")).select_related("app", "release"))
        for instance in rows:
            action = "instance.oom" if instance.state == Instance.OOM_KILLED else "instance.crash"
            record(None, action, crash_message(instance), app=instance.app, instance=instance.name,
                   exit_code=instance.exit_code, restarts=instance.restarts)
            Instance.objects.filter(pk=instance.pk).update(restarts_reported=instance.restarts)
            told += 1
    return told
