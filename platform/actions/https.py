"""An app's HTTPS policy: the redirect of plain requests and HSTS (``paas https:redirect``, ``https:hsts``).

Stored on the app, published in its route-table entry (control/routes.py), applied by the router.
"""

from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.exceptions import Invalid
from paas.platform.models import App

# RFC 6797 sets no ceiling; two years is the most browsers' preload lists ask for. A policy
# browsers cache that long is hard to take back, so longer is refused rather than clamped.
MAX_HSTS_AGE = 2 * 365 * 86400
UNCHANGED = object()


def check_hsts_max_age(value):
    """``value`` as a max-age in seconds, or None (HSTS off); Invalid otherwise."""
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_HSTS_AGE:
        raise Invalid(f"HSTS max-age must be a whole number of seconds from 0 to {MAX_HSTS_AGE} (two years), "
                      "or null to turn HSTS off")
    return value


def set_https(user, app: App, *, redirect=UNCHANGED, hsts_max_age=UNCHANGED) -> App:
    """Change the redirect (a bool) and/or the HSTS max-age (seconds or None); both checked before either is stored."""
    if redirect is not UNCHANGED and not isinstance(redirect, bool):
        raise Invalid('redirect must be true or false')
    if hsts_max_age is not UNCHANGED:
        hsts_max_age = check_hsts_max_age(hsts_max_age)
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        changes = []
        if redirect is not UNCHANGED and app.https_redirect != redirect:
            app.https_redirect = redirect
            changes.append(f"HTTPS redirect {'on' if redirect else 'off'}")
        if hsts_max_age is not UNCHANGED and app.hsts_max_age != hsts_max_age:
            app.hsts_max_age = hsts_max_age
            changes.append("HSTS off" if hsts_max_age is None else f"HSTS max-age={hsts_max_age}")
        if changes:
            app.save(update_fields=["https_redirect", "hsts_max_age", "updated_at"])
            record(user, "app.https", ", ".join(changes), app=app, redirect=app.https_redirect,
                   hsts_max_age=app.hsts_max_age)
            transaction.on_commit(wake)
    return app
