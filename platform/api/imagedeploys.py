"""Deploying a prebuilt image from an uploaded archive (``paas deploy:image --archive FILE``)."""

from django.conf import settings

from paas.platform.actions import access
from paas.platform.actions.imagedeploys import deploy_archive, deploy_reference, spool
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import release_json


def upload_archive(request, app):
    """The body is a docker-save or OCI archive (application/x-tar); answers the new release."""
    target = access.get_app(request.user, app)
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    archive = spool(request, declared, settings.PAAS_MAX_IMAGE_ARCHIVE_BYTES)
    try:
        release = deploy_archive(request.user, target, archive)
    finally:
        archive.unlink(missing_ok=True)
    return 201, release_json(release)


@body_schema({"image": "registry/repository:tag or @sha256:..., from a registry the platform may pull from"})
def pull_image(request, app):
    """Pull an image from a registry (PAAS_REGISTRY_ALLOW) and release it."""
    target = access.get_app(request.user, app)
    return 201, release_json(deploy_reference(request.user, target, request.data.get("image")))


def export(request, app, version):
    """The release as an OCI archive `docker load` reads (image and Dockerfile releases)."""
    from paas.platform.actions.imagedeploys import export_release
    from paas.platform.actions.releases import get_release
    from paas.platform.api.images import StreamedFile

    target = access.get_app(request.user, app)
    release = get_release(target, version)
    response = StreamedFile(export_release(request.user, target, release), content_type="application/x-tar")
    response["Content-Disposition"] = f'attachment; filename="{target.name}-v{release.version}.tar"'
    return response
