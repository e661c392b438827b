"""Forgetting instances long stopped: the Instance table would otherwise grow with every deploy.

Usage (platform/usage.py) is computed from instance rows, so the retention
period (PAAS_INSTANCE_RETENTION_DAYS, 400 by default: a year of accounting
with room to bill it) is also how far back `paas usage` can look. Rows are
removed in small batches, and at most every PRUNE_EVERY_S, so the control
loop's tick stays short.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from paas.platform.models import Instance

PRUNE_EVERY_S = 600
BATCH = 1000
_last_run = 0.0


def prune_stopped(now=None, *, force: bool = False) -> int:
    """Delete instances stopped (by request) before the retention period; returns how many."""
    global _last_run
    if not force and time.monotonic() - _last_run < PRUNE_EVERY_S:
        return 0
    _last_run = time.monotonic()
    cutoff = (now or timezone.now()) - timedelta(days=settings.PAAS_INSTANCE_RETENTION_DAYS)
    old = (Instance.objects.filter(desired_state=Instance.STOP, updated_at__lt=cutoff)
           .filter(Q(stopped_at__lt=cutoff) | Q(stopped_at__isnull=True)))
    ids = list(old.values_list("pk", flat=True)[:BATCH])
    if not ids:
        return 0
    deleted, _ = Instance.objects.filter(pk__in=ids).delete()
    return deleted
