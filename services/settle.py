"""The add-ons' side of the control loop: level-triggered, like the rest of it.

Each tick: a provisioning add-on whose server accepts connections becomes
available and is bound (its apps get their URL: a release each, rolled
out); one that never comes up within PAAS_ADDON_PROVISION_TIMEOUT_S fails,
and what it made is removed (its server stops, its volume goes); an
available add-on whose host is down is marked down, never re-created empty
elsewhere.
"""

import logging
import os
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.models import Addon, AddonAttachment, Host
from paas.services.backups import fail_unfinished, run_schedules
from paas.services.broker import bind
from paas.services.probe import answers
from paas.services.rotation import retire_rotated
from paas.services.stats import ServerUnavailable

log = logging.getLogger("paas.control")


def provision_timeout() -> timedelta:
    return timedelta(seconds=float(os.environ.get("PAAS_ADDON_PROVISION_TIMEOUT_S", "120")))


def settle(now=None) -> int:
    """One pass over the add-ons; how many changed."""
    now = now or timezone.now()
    changed = 0
    for addon in Addon.objects.filter(state=Addon.PROVISIONING).select_related("app", "host"):
        if addon.server_state == "up" and answers(addon):
            changed += _available(addon)
        elif addon.created_at < now - provision_timeout():
            changed += _failed(addon, f"the server did not accept connections within "
                                      f"{int(provision_timeout().total_seconds())} s")
    for attachment in AddonAttachment.objects.filter(bound=False, addon__state=Addon.AVAILABLE).select_related(
            "addon__host", "app"):
        with transaction.atomic():
            bind(attachment)
        changed += 1
    changed += _down_hosts()
    changed += run_schedules() + fail_unfinished()
    try:
        changed += retire_rotated()
    except ServerUnavailable as error:  # the server is away: the next pass tries again
        log.warning("revoking rotated credentials: %s", error.message)
    return changed


def _available(addon: Addon) -> int:
    with transaction.atomic():
        if not Addon.objects.filter(pk=addon.pk, state=Addon.PROVISIONING).update(
                state=Addon.AVAILABLE, state_message="available"):
            return 0
        record(None, "addon.available", f"{addon.name} is available", app=addon.app, addon=addon.name)
    return 1


def _failed(addon: Addon, why: str) -> int:
    """A failed provision removes what it made: attachments now, the server and volume on its host."""
    with transaction.atomic():
        if not Addon.objects.filter(pk=addon.pk, state=Addon.PROVISIONING).update(
                state=Addon.FAILED, state_message=why):
            return 0
        addon.attachments.all().delete()
        record(None, "addon.failed", f"{addon.name} could not be provisioned: {why}", app=addon.app,
               addon=addon.name)
    return 1


def _down_hosts() -> int:
    down = Addon.objects.filter(state=Addon.AVAILABLE, host__state=Host.DOWN).select_related("app", "host")
    count = 0
    for addon in down:
        why = (f"its host {addon.host.name} is down; its data is on that host's volume: bring the host back "
               f"(the server restarts with its data) or restore a backup into a new add-on")
        with transaction.atomic():
            Addon.objects.filter(pk=addon.pk).update(state=Addon.DOWN, state_message=why)
            record(None, "addon.down", f"{addon.name}: {why}", app=addon.app, addon=addon.name)
        count += 1
    for addon in Addon.objects.filter(state=Addon.DOWN, host__state=Host.UP).select_related("app"):
        Addon.objects.filter(pk=addon.pk).update(state=Addon.AVAILABLE, state_message="available")
        record(None, "addon.up", f"{addon.name}: its host is back", app=addon.app, addon=addon.name)
        count += 1
    return count
