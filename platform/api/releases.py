"""Releases and rollback."""

from paas.platform.actions import access
from paas.platform.actions.releases import get_release, rollback
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import release_json


def list_releases(request, app):
    """The app's releases, newest first."""
    target = access.get_app(request.user, app)
    releases = target.releases.select_related("build", "config", "created_by", "rollback_of")
    return [release_json(r) for r in releases]


def info(request, app, version):
    """One release."""
    return release_json(get_release(access.get_app(request.user, app), version))


@body_schema({"version": "integer or 'vN'; default: the release before the latest"})
def create_rollback(request, app):
    """Roll back: a new release with the build and config of an earlier one."""
    target = access.get_app(request.user, app)
    release = rollback(request.user, target, request.data.get("version"))
    return 201, release_json(release)
