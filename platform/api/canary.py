"""Canary deploys."""

from paas.platform.actions import access
from paas.platform.actions.canary import abort_canary, get_canary, promote_canary, start_canary
from paas.platform.api.routing import body_schema
from paas.platform.api.serializers import release_json


def canary_json(canary) -> dict:
    return {"release": canary.release.version, "percent": canary.percent, "created_at": canary.created_at.isoformat()}


def show(request, app):
    """The app's canary, if any."""
    return canary_json(get_canary(access.get_app(request.user, app)))


@body_schema({"version": "vN", "percent": "1-99"})
def start(request, app):
    """Send a share of web traffic to release vN beside the live release."""
    target = access.get_app(request.user, app)
    return 201, canary_json(start_canary(request.user, target, request.data.get("version"), request.data.get("percent")))


def promote(request, app):
    """Give the canary all traffic: a new release with its build and config, rolled out as usual."""
    return 201, release_json(promote_canary(request.user, access.get_app(request.user, app)))


def abort(request, app):
    """Stop the canary; the live release takes all traffic again."""
    abort_canary(request.user, access.get_app(request.user, app))
    return {"aborted": True}
