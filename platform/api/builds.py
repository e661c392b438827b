"""Build history, build output, cancelling, and the build cache."""

from paas.platform.actions import access
from paas.platform.actions.builds import cancel_build, clear_build_cache, get_build
from paas.platform.api.serializers import build_json


def list_builds(request, app):
    """The app's builds, newest first."""
    target = access.get_app(request.user, app)
    return [build_json(b) for b in target.builds.all()[:100]]


def info(request, app, build):
    """One build, with its stored output."""
    found = get_build(access.get_app(request.user, app), build)
    return {**build_json(found), "output": found.output}


def cancel(request, app, build):
    """Cancel a build that has not finished; its push is rejected."""
    found = get_build(access.get_app(request.user, app), build)
    return build_json(cancel_build(request.user, found))


def clear_cache(request, app):
    """Empty the app's build cache: the next build starts cold."""
    target = access.get_app(request.user, app)
    clear_build_cache(request.user, target)
    return {"cleared": target.name}
