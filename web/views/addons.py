"""An app's add-ons and their backups from its page: the same service functions the API's add-on and
pg:backups endpoints call (services/broker.py, services/backups.py), so the checks and refusals are theirs.

Reading is web/addons.py's; each view here is a POST with the CSRF token that calls one action and
goes back to the app's page saying what happened (a refusal comes back as its message, guard.py).
"""

from django.views.decorators.http import require_POST

from paas.platform.actions import access
from paas.services import backups, broker
from paas.web.guard import console_view, done
from paas.web.views.app_actions import field, page_of


@require_POST
@console_view()
def create(request, app):
    target = access.get_app(request.user, app)
    addon = broker.provision(request.user, target, field(request, "service", 60), field(request, "as", 50) or None)
    return done(request, f"Provisioning {addon.name} ({addon.service}:{addon.plan})", page_of(target.name))


@require_POST
@console_view()
def destroy(request, app):
    """Deprovision: the owning app's name typed again, as ``addons:destroy --confirm`` asks."""
    target = access.get_app(request.user, app)
    addon = broker.get_addon(request.user, field(request, "addon", 63))
    broker.deprovision(request.user, addon, field(request, "confirm", 63))
    return done(request, f"Deprovisioning {addon.name}", page_of(target.name))


@require_POST
@console_view()
def detach(request, app):
    target = access.get_app(request.user, app)
    addon = broker.get_addon(request.user, field(request, "addon", 63))
    broker.detach(request.user, addon, target)
    return done(request, f"Detached {addon.name} from {target.name}", page_of(target.name))


@require_POST
@console_view()
def capture(request, app):
    target = access.get_app(request.user, app)
    backup = backups.capture(request.user, target, field(request, "addon", 63) or None)
    return done(request, f"Capturing {backup.label} of {backup.addon_name}", page_of(target.name))


@require_POST
@console_view()
def schedule(request, app):
    """Daily backups at HH:MM UTC, or none when the time is left empty."""
    target = access.get_app(request.user, app)
    addon = backups.set_schedule(request.user, target, field(request, "at", 5) or None,
                                 field(request, "addon", 63) or None)
    said = f"daily at {addon.backup_at} UTC" if addon.backup_at else "none"
    return done(request, f"Backups of {addon.name}: {said}", page_of(target.name))
