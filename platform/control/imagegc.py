"""Collecting the image store: slugs and images that no build of an existing app names.

Every build of an app that exists keeps its image (a rollback may name any of them); destroying an
app deletes its builds, and with them what kept its images. An image stored in the last GRACE_S is
kept whatever names it: builds and imports write their image before the transaction that records
it commits. The control loop sends the collection as a task (tasks/images.py) at most every EVERY_S,
so removing large trees never holds up a tick; it runs on the build worker of the control host,
whose store builds and imports write and the API serves to agents (a same-host agent runs from it
too). An agent on another host keeps what it fetched (runtime/README.md).
"""

import logging
import time

from paas.platform.models import Build

log = logging.getLogger("paas.control.imagegc")
TASK_NAME = "paas.platform.tasks.images.collect"
EVERY_S = 3600
GRACE_S = 3600
_last_sent = 0.0


def named_images() -> set[str]:
    return set(Build.objects.exclude(slug_digest="").values_list("slug_digest", flat=True).distinct())


def schedule() -> bool:
    """Send the collection task when EVERY_S has passed since this loop last sent it; whether it did."""
    global _last_sent
    if _last_sent and time.monotonic() - _last_sent < EVERY_S:
        return False
    from paas.platform.celery import app as celery_app

    _last_sent = time.monotonic()
    celery_app.send_task(TASK_NAME)
    return True


def collect() -> list[str]:
    """Remove every stored image no build names and not stored within GRACE_S; the digests removed."""
    from paas.runtime import images

    keep = images.stored_within(GRACE_S) | named_images()
    removed = images.gc(keep)
    if removed:
        log.info("image store: removed %d images no build names", len(removed))
    return removed
