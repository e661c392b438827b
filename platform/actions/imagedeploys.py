"""Deploying a prebuilt image: an uploaded docker-save or OCI archive becomes a build and a release.

The archive is imported into the image store first (runtime/imageimport.py: whole or not at all);
only then are the build and its release recorded, together in one transaction. A bad archive is
answered with what is wrong with it and leaves no build, release or layer behind.
"""

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from paas.platform.actions.config import current_config
from paas.platform.actions.events import record
from paas.platform.actions.registrylogins import logins
from paas.platform.actions.releases import create_release
from paas.platform.exceptions import BadRequest, Invalid, PayloadTooLarge
from paas.platform.models import App, Build, Formation, Release

CHUNK = 1 << 20
# The builder's name on a build made from an image, where buildpack builds name their buildpacks.
IMAGE_BUILDER = "image"


def spool(stream, declared: int, limit: int) -> Path:
    """The request body (an archive) in a file of its own under the data directory; never more than `limit`."""
    work = Path(settings.PAAS_DATA_DIR) / "work"
    work.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="image-", suffix=".tar", dir=work)
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"the archive is larger than {limit} bytes (PAAS_MAX_IMAGE_ARCHIVE_BYTES)")
                out.write(chunk)
        if received == 0 or received != declared:
            raise BadRequest("send the archive as the request body (paas deploy:image --archive FILE)")
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def deploy_reference(user, app: App, reference) -> Release:
    """Pull image `reference` from a registry the platform may reach (PAAS_REGISTRY_ALLOW) and release it."""
    from paas.runtime import registry
    from paas.runtime.errors import ImageError

    if not isinstance(reference, str) or not reference.strip():
        raise Invalid("name the image to deploy, such as registry.example:5000/team/app:1.0")
    work = Path(settings.PAAS_DATA_DIR) / "work"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pull-", dir=work) as tmp:
        archive = Path(tmp) / "image.tar"
        try:
            pulled = registry.pull(reference, archive, logins(app))
        except ImageError as error:
            raise Invalid(str(error)) from None
        return deploy_archive(user, app, archive, summary=f"Deploy {pulled}")


def deploy_archive(user, app: App, archive: Path, *, summary: str = "") -> Release:
    """Import `archive` and release it: web runs the image's ENTRYPOINT/CMD. Invalid when it is no image."""
    from paas.runtime import imageimport
    from paas.runtime.errors import ImageError

    try:
        image = imageimport.import_archive(archive)
    except ImageError as error:
        raise Invalid(f"the image cannot be deployed: {error}") from None
    now = timezone.now()
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        build = Build.objects.create(
            app=app, status=Build.SUCCEEDED, stack="", buildpack=IMAGE_BUILDER, slug_digest=image.digest,
            slug_size=image.size, process_types={"web": ""}, created_by=user, started_at=now, finished_at=now)
        if not app.formation.exists():
            Formation.objects.create(app=app, process_type="web", quantity=1)
        short = image.digest.removeprefix("sha256:")[:12]
        record(user, "build.succeeded", f"image {short} imported", app=app, build=str(build.uuid))
        return create_release(app, user=user, build=build, config=current_config(app),
                              summary=summary or f"Deploy image {short}")


def export_release(user, app: App, release: Release):
    """Release `release` as an OCI archive (with docker save's manifest.json): its image (or, built by
    buildpacks, its stack plus its slug under /app: runtime/slugexport.py), its config vars as ENV, its
    web command (when its Procfile gave one) as CMD. A temporary file, gone once closed."""
    from paas.runtime import imageexport, images
    from paas.runtime.errors import ImageError

    build = release.build
    if build is None:
        raise Invalid(f"v{release.version} has no build to export (nothing was deployed yet)")
    if not images.exists(build.slug_digest):
        raise Invalid(f"v{release.version}'s image is not on this host")
    out = tempfile.TemporaryFile(dir=images.oci_dir())
    try:
        imageexport.write(build.slug_digest, out, env=dict(release.config.values),
                          command=build.process_types.get("web", ""), tag=f"paas/{app.name}:v{release.version}")
        out.seek(0)
    except ImageError as error:
        out.close()
        raise Invalid(f"v{release.version} cannot be exported: {error}") from None
    except BaseException:
        out.close()
        raise
    record(user, "release.export", f"exported v{release.version}", app=app, version=release.version)
    return out
