"""Per-app egress: whether an app's instances may open connections out of the platform."""

from django.db import transaction

from paas.platform.actions.access import require_manage
from paas.platform.actions.events import record
from paas.platform.control.wake import wake_agents
from paas.platform.exceptions import Invalid
from paas.platform.models import App


def set_egress(user, app: App, allowed) -> App:
    """Allow or deny every outgoing connection of the app's instances, DNS included.

    The agents apply it to running instances on their next pass, without a
    restart (runtime/network.set_egress). Builds are not affected: they always
    reach the package registries.
    """
    if not isinstance(allowed, bool):
        raise Invalid('give {"allowed": true} or {"allowed": false}')
    require_manage(user, app)
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if app.egress != allowed:
            app.egress = allowed
            app.save(update_fields=["egress", "updated_at"])
            record(user, "app.egress", f"egress {'allowed' if allowed else 'denied'}", app=app, allowed=allowed)
            transaction.on_commit(wake_agents)
    return app
