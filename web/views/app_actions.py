"""Changes to one app from its page: each calls the API's action with the API's access check.

Every view here takes a POST with the CSRF token, finds the app through access.get_app (404/403
as the API answers), calls the one action that does it, and goes back to the page saying what
happened; a refusal comes back as the action's own message (guard.py).
"""

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST

from paas.platform.actions import access
from paas.platform.actions.apps import set_maintenance
from paas.platform.actions.builds import get_build
from paas.platform.actions.collaborators import add_collaborator, remove_collaborator
from paas.platform.actions.config import change_config, current_config
from paas.platform.actions.formation import scale
from paas.platform.actions.releases import rollback
from paas.platform.exceptions import Invalid
from paas.platform.sizes import DEFAULT_SIZE
from paas.web.guard import console_view, done


def page_of(app: str) -> str:
    return f"/console/apps/{app}/"


def field(request, name: str, max_length: int = 300) -> str:
    value = request.POST.get(name, "")
    if len(value) > max_length:
        raise Invalid(f"{name} is too long (at most {max_length} characters)")
    return value


@require_POST
@console_view()
def do_rollback(request, app):
    target = access.get_app(request.user, app)
    release = rollback(request.user, target, field(request, "version", 12) or None)
    return done(request, f"Rolled back: v{release.version} ({release.summary})", page_of(target.name))


@require_POST
@console_view()
def set_config(request, app):
    """Set one config var (a new release); the value may span lines (a PEM key)."""
    target = access.get_app(request.user, app)
    key = field(request, "key", 200).strip()
    value = request.POST.get("value", "").replace("\r\n", "\n")
    release = change_config(request.user, target, {key: value})
    return done(request, f"v{release.version}: {release.summary}", page_of(target.name))


@require_POST
@console_view()
def unset_config(request, app):
    target = access.get_app(request.user, app)
    release = change_config(request.user, target, {field(request, "key", 200): None})
    return done(request, f"v{release.version}: {release.summary}", page_of(target.name))


@require_GET
@console_view()
def reveal_config(request, app):
    """The values, fetched only when someone clicks reveal (never in the page's HTML)."""
    target = access.get_app(request.user, app)
    response = JsonResponse(current_config(target).values)
    response["Cache-Control"] = "no-store"
    return response


def scale_changes(request) -> dict:
    """{type: {"quantity": n, "size": s}} from the form's type, quantity and size fields."""
    quantity = field(request, "quantity", 6).strip()
    if not quantity.isascii() or not quantity.isdigit():
        raise Invalid(f"quantity must be a whole number, got {quantity!r}")
    return {field(request, "type", 30): {"quantity": int(quantity), "size": field(request, "size", 20) or DEFAULT_SIZE}}


@require_POST
@console_view()
def do_scale(request, app):
    target = access.get_app(request.user, app)
    rows = scale(request.user, target, scale_changes(request))
    summary = ", ".join(f"{f.process_type}={f.quantity}:{f.size}" for f in rows)
    return done(request, f"Scaled {target.name}: {summary}", page_of(target.name))


@require_POST
@console_view()
def maintenance(request, app):
    target = access.get_app(request.user, app)
    enabled = field(request, "enabled", 3) == "on"
    set_maintenance(request.user, target, enabled)
    return done(request, f"Maintenance mode {'on' if enabled else 'off'}", page_of(target.name))


@require_POST
@console_view()
def collaborator_add(request, app):
    target = access.get_app(request.user, app)
    added = add_collaborator(request.user, target, field(request, "user", 254).strip())
    return done(request, f"{added.user.username} can now work on {target.name}", page_of(target.name))


@require_POST
@console_view()
def collaborator_remove(request, app):
    target = access.get_app(request.user, app)
    user = field(request, "user", 254)
    remove_collaborator(request.user, target, user)
    return done(request, f"Removed {user}'s access", page_of(target.name))


@require_GET
@console_view()
def build_output(request, app, build):
    """A build's output from character ``?from=N`` on, polled by the build page while it runs."""
    found = get_build(access.get_app(request.user, app), build)
    start = request.GET.get("from", "0")
    offset = int(start) if start.isascii() and start.isdigit() and len(start) < 12 else 0
    return JsonResponse({"status": found.status, "output": found.output[offset:], "next": len(found.output)})
