"""What the console shows of add-ons: an app's with their backups, and those needing someone's attention.

Reads only; the rules are the services layer's (broker.addons_of for what an app uses,
backups.due for a schedule not yet run), so the console never has a second idea of them.
"""

from datetime import datetime, timedelta

from django.db.models import Prefetch, prefetch_related_objects

from paas.platform.models import Addon, AddonAttachment, AddonBackup
from paas.services import backups, broker, catalog

BACKUPS_SHOWN = 10
RECENT = 10
FAILED_BACKUPS_SINCE = timedelta(days=1)
# A scheduled backup still due this long after its time was missed (the scheduler runs every minute).
MISSED_AFTER = timedelta(hours=1)
TROUBLE = (Addon.FAILED, Addon.DOWN)


def of_app(app) -> dict:
    """The app page's add-ons section: its add-ons with their attachments, its latest backups, the catalog."""
    addons = broker.addons_of(app)
    prefetch_related_objects(addons, Prefetch("attachments", queryset=AddonAttachment.objects.select_related("app")))
    for addon in addons:
        addon.config_vars = [(a.app.name, broker.config_var(a.name), a.bound) for a in addon.attachments.all()]
    # The backups as rows of their own table: the page shows nothing of a restore's source (joining it and its
    # app was two joins and thirty columns for each backup).
    return {"addons": addons, "backups": list(app.backups.all()[:BACKUPS_SHOWN]),
            "services": catalog.as_json()}


def attention(visible, now: datetime) -> list[tuple[str, str, str]]:
    """(app, add-on, what is wrong) for the dashboard: add-ons down or failed, recent failed backups, missed
    scheduled backups; ``visible`` is the user's apps (a queryset of pks)."""
    # Tuples of the few columns shown, not add-ons and backups with their apps: whole rows (credentials,
    # counts) and their models were most of this function's time.
    down = (Addon.objects.filter(app__in=visible, state__in=TROUBLE)
            .values_list("app__name", "name", "state", "state_message")[:RECENT])
    out = [(app, name, f"{state}: {message}".rstrip(": ")) for app, name, state, message in down]
    failed = (AddonBackup.objects.filter(app__in=visible, state=AddonBackup.FAILED,
                                         created_at__gte=now - FAILED_BACKUPS_SINCE)
              .order_by("-created_at").only("app__name", "addon_name", "number", "kind", "message")
              .select_related("app")[:RECENT])
    out += [(b.app.name, b.addon_name, f"backup {b.label} failed: {b.message}".rstrip(": ")) for b in failed]
    missed = backups.due(now - MISSED_AFTER)
    if missed:      # usually none: only then ask which of their apps the user sees, names in the same query
        names = dict(visible.filter(pk__in={a.app_id for a in missed}).values_list("pk", "name"))
        out += [(names[a.app_id], a.name, f"the daily backup at {a.backup_at} UTC did not run")
                for a in missed if a.app_id in names][:RECENT]
    return out
