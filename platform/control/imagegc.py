"""Collecting the image store: slugs and images that no build of an existing app names.

Every build of an app that exists keeps its image (a rollback may name any of them); destroying an
app deletes its builds, and with them what kept its images. An image stored in the last GRACE_S is
kept whatever names it: builds and imports write their image before the transaction that records
it commits. The control loop sends the collection as a task (tasks/images.py) at most every EVERY_S,
so removing large trees never holds up a tick; it runs on the build worker of the control host,
whose store builds and imports write and the API serves to agents (a same-host agent runs from it
too). An agent on another host keeps what it fetched (runtime/README.md).

Where PAAS_BUILD_DOCKER_HOST names an engine, the build worker (which has that setting) also collects
its images every ENGINE_EVERY_S: the cache images of destroyed apps and bases no build used for a
build's time limit and more (buildpacks/enginegc.py).
"""

import logging
import time

from django.conf import settings

from paas.platform.models import App, Build

log = logging.getLogger("paas.control.imagegc")
TASK_NAME = "paas.platform.tasks.images.collect"
ENGINE_TASK_NAME = "paas.platform.tasks.images.collect_engine"
EVERY_S = 3600
ENGINE_EVERY_S = 600
GRACE_S = 3600
ENGINE_GRACE_MARGIN_S = 600   # beyond PAAS_BUILD_TIMEOUT_S: a build tags its bases just before it starts
_last_sent: dict[str, float] = {}


def named_images() -> set[str]:
    return set(Build.objects.exclude(slug_digest="").values_list("slug_digest", flat=True).distinct())


def schedule() -> bool:
    """Send the store's collection task when EVERY_S has passed since this loop last sent it, and the build
    engine's (where one is named) every ENGINE_EVERY_S; whether it sent one."""
    sent = _send_due(TASK_NAME, EVERY_S)
    if settings.PAAS_BUILD_DOCKER_HOST:
        sent |= _send_due(ENGINE_TASK_NAME, ENGINE_EVERY_S)
    return sent


def _send_due(task: str, every: float) -> bool:
    last = _last_sent.get(task)
    if last is not None and time.monotonic() - last < every:
        return False
    from paas.platform.celery import app as celery_app

    _last_sent[task] = time.monotonic()
    celery_app.send_task(task)
    return True


def collect() -> list[str]:
    """Remove every stored image no build names and not stored within GRACE_S; the digests removed."""
    from paas.runtime import images

    keep = images.stored_within(GRACE_S) | named_images()
    removed = images.gc(keep)
    if removed:
        log.info("image store: removed %d images no build names", len(removed))
    return removed


def live_cache_tags() -> set[str]:
    """The build engine's cache tags of the apps that exist (enginebuild.cache_tag)."""
    from paas.buildpacks.enginebuild import cache_tag

    return {cache_tag(name, pk) for pk, name in App.objects.values_list("pk", "name")}


def collect_engine() -> list[str]:
    """Remove the build engine's images of destroyed apps and bases no build used lately; the tags removed."""
    import docker

    from paas.buildpacks import enginegc

    if not settings.PAAS_BUILD_DOCKER_HOST:
        return []
    grace = settings.PAAS_BUILD_TIMEOUT_S + ENGINE_GRACE_MARGIN_S
    try:
        api = docker.APIClient(base_url=settings.PAAS_BUILD_DOCKER_HOST, version="auto", timeout=120)
        try:
            removed = enginegc.collect(api, live_cache_tags(), time.time(), grace)
        finally:
            api.close()
    except (docker.errors.DockerException, OSError) as exc:
        log.warning("build engine: not collected, the engine does not answer: %s", str(exc)[:300])
        return []
    if removed:
        log.info("build engine: removed %d images of destroyed apps and unused bases", len(removed))
    return removed
