"""Certificates needing someone's attention, for the dashboard: expiring or expired ones, and failed ACME orders.

Reads only; "expiring" is the platform's own warning window (actions/certs.py
EXPIRY_WARNING_DAYS, when it records its cert.expiring event), and a domain's last ACME
error is what `paas certs:auto` shows.
"""

from datetime import datetime, timedelta

from paas.platform.actions.certs import EXPIRY_WARNING_DAYS
from paas.platform.models import Certificate, Domain

SHOWN = 10


def attention(visible, now: datetime) -> list[tuple[str, str, str]]:
    """(app, certificate or domain, what is wrong) over the apps in ``visible`` (a queryset of pks)."""
    soon = (Certificate.objects.filter(app__in=visible, not_after__lte=now + timedelta(days=EXPIRY_WARNING_DAYS))
            .order_by("not_after").values_list("app__name", "name", "names", "not_after")[:SHOWN])
    out = [(app, f"certificate {name} ({', '.join(names)})", expiry(not_after, now))
           for app, name, names, not_after in soon]
    failed = (Domain.objects.filter(app__in=visible, app__acme=True, acme_status="failed").order_by("hostname")
              .values_list("app__name", "hostname", "acme_error")[:SHOWN])
    out += [(app, hostname, f"automatic certificate failed: {error}".rstrip(": ")) for app, hostname, error in failed]
    return out


def expiry(not_after: datetime, now: datetime) -> str:
    if not_after <= now:
        return f"expired on {not_after:%Y-%m-%d}"
    return f"expires on {not_after:%Y-%m-%d}, in {(not_after - now).days} days"
