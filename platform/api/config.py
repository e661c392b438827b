"""Config vars."""

from paas.platform.actions import access
from paas.platform.actions.config import change_config, current_config
from paas.platform.api.routing import body_schema


def show(request, app):
    """The app's current config vars."""
    return current_config(access.get_app(request.user, app)).values


@body_schema({"KEY": "string, or null to unset"})
def update(request, app):
    """Set and unset config vars in one new release: {"KEY": "value", "OLD": null}."""
    target = access.get_app(request.user, app)
    release = change_config(request.user, target, request.data)
    return {"release": release.version, "config": release.config.values}
