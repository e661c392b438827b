"""Autoscaling and canaries from the app page: each form calls the API's action with the API's access check.

A form carries text; the API's JSON carries numbers. ``number_field`` turns a field into
what the JSON would hold (a whole number, a number, or nothing), and leaves anything else
as its text, so the action refuses it with the API's own message: the rules stay in
platform/actions/autoscale.py and canary.py, never repeated here.
"""

from django.views.decorators.http import require_POST

from paas.platform.actions import access
from paas.platform.actions.autoscale import remove_autoscale, set_autoscale
from paas.platform.actions.canary import abort_canary, promote_canary, start_canary
from paas.web.guard import console_view, done
from paas.web.views.app_actions import field, page_of

AUTOSCALE_FIELDS = ("min", "max", "target_rps", "target_p95_ms")


def number_field(request, name: str):
    """The field as the API's JSON would carry it: int, float, None when empty, else its text (refused later)."""
    text = field(request, name, 30).strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@require_POST
@console_view()
def autoscale_set(request, app):
    """Scale a process type between min and max on its targets (``paas autoscale:set``)."""
    target = access.get_app(request.user, app)
    data = {name: number_field(request, name) for name in AUTOSCALE_FIELDS}
    scaler = set_autoscale(request.user, target, field(request, "type", 30),
                           {k: v for k, v in data.items() if v is not None})
    return done(request, f"Autoscaling {scaler.process_type}: {scaler.min_quantity} to {scaler.max_quantity} instances",
                page_of(target.name))


@require_POST
@console_view()
def autoscale_off(request, app):
    target = access.get_app(request.user, app)
    process_type = field(request, "type", 30)
    remove_autoscale(request.user, target, process_type)
    return done(request, f"Autoscaling of {process_type} turned off", page_of(target.name))


@require_POST
@console_view()
def canary_start(request, app):
    """Send ``percent`` of web traffic to release ``version`` beside the live one."""
    target = access.get_app(request.user, app)
    canary = start_canary(request.user, target, field(request, "version", 12), number_field(request, "percent"))
    return done(request, f"Canary v{canary.release.version} takes {canary.percent}% of web traffic",
                page_of(target.name))


@require_POST
@console_view()
def canary_promote(request, app):
    target = access.get_app(request.user, app)
    release = promote_canary(request.user, target)
    return done(request, f"v{release.version}: {release.summary}", page_of(target.name))


@require_POST
@console_view()
def canary_abort(request, app):
    target = access.get_app(request.user, app)
    abort_canary(request.user, target)
    return done(request, "Canary aborted: the live release takes all traffic", page_of(target.name))
