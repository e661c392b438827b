"""An app's HTTPS policy: redirect and HSTS."""

from paas.platform.actions import access
from paas.platform.actions.https import UNCHANGED, set_https
from paas.platform.api.routing import body_schema
from paas.platform.exceptions import Invalid


def https_json(app) -> dict:
    return {"app": app.name, "redirect": app.https_redirect, "hsts_max_age": app.hsts_max_age}


def show(request, app):
    """Whether plain HTTP is redirected to HTTPS, and the HSTS max-age (null: none)."""
    return https_json(access.get_app(request.user, app))


@body_schema({"redirect": "boolean", "hsts_max_age": "integer seconds, or null for no HSTS"})
def update(request, app):
    """Turn the HTTPS redirect on or off (301 for GET/HEAD, 308 for others) and/or set HSTS."""
    target = access.get_app(request.user, app)
    unknown = set(request.data) - {"redirect", "hsts_max_age"}
    if unknown or not request.data:
        raise Invalid('give {"redirect": true|false} and/or {"hsts_max_age": seconds|null}')
    return https_json(set_https(request.user, target, redirect=request.data.get("redirect", UNCHANGED),
                                hsts_max_age=request.data.get("hsts_max_age", UNCHANGED)))
