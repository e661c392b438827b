"""The image store's collection: what no build of an existing app names goes, after a grace period."""

import io
import os
import tarfile
import time

import pytest

from paas.platform.actions.apps import create_app, destroy_app
from paas.platform.celery import app as celery_app
from paas.platform.control import imagegc
from paas.platform.models import Build
from paas.runtime import images
from tests.platform.accounts import make_user


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PAAS_RUNTIME_DIR", str(tmp_path / "runtime"))
    return tmp_path


def stored(tmp_path, text: str, age_s: float = 0) -> str:
    """An image of one file holding ``text``, its metadata written ``age_s`` ago; its digest."""
    slug = tmp_path / f"{text}.tgz"
    with tarfile.open(slug, "w:gz") as tar:
        info = tarfile.TarInfo("./app.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    image = images.put(slug)
    if age_s:
        then = time.time() - age_s
        meta = images.config.images_dir() / "meta" / f"{image.digest.removeprefix('sha256:')}.json"
        os.utime(meta, (then, then))
    return image.digest


def built(app, digest: str) -> Build:
    return Build.objects.create(app=app, status=Build.SUCCEEDED, slug_digest=digest)


def test_images_no_build_names_go_after_the_grace_period(db, store):
    owner = make_user("imageowner")
    live, gone = create_app(owner, "imgc-live"), create_app(owner, "imgc-gone")
    old = imagegc.GRACE_S + 60
    current, rollback = stored(store, "current", old), stored(store, "rollback", old)
    built(live, rollback)
    built(live, current)
    destroyed = stored(store, "destroyed", old)
    built(gone, destroyed)
    destroy_app(owner, gone, "imgc-gone")
    orphan, fresh = stored(store, "orphan", old), stored(store, "fresh")   # fresh: a build not yet committed
    assert set(imagegc.collect()) == {destroyed, orphan}
    assert images.all_digests() == {current, rollback, fresh}
    assert images.blob_path(rollback).exists()   # every build of a live app stays: a rollback may name it


def test_the_collection_is_a_task_on_the_build_queue(settings):
    celery_app.loader.import_default_modules()
    assert imagegc.TASK_NAME in celery_app.tasks
    assert celery_app.amqp.router.route({}, imagegc.TASK_NAME)["queue"].name == settings.PAAS_BUILD_QUEUE
