"""Custom domains: claimed by an app, proven with a DNS TXT record, then routed.

A claim starts pending with a random token; it is routed (control/routes.py) only once
verified: the TXT record at _paas-verify.<domain> holds that token, which only whoever
controls the domain's DNS can arrange. Admins may route a domain without the check;
that is recorded in the audit log.

A hostname may be pending for several apps at once, and the first to verify wins. A
pending claim proves nothing, so letting it block others would let anyone squat any
hostname (claim www.example.com first, and its real owner could never add it); it routes
nothing either, so many pending claims cost nothing. Once one app holds a hostname
verified (a database constraint keeps that to one), other apps can neither add nor
verify it until that app removes it.
"""

from django.db import IntegrityError, transaction
from django.conf import settings
from django.utils import timezone

from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.exceptions import Conflict, Forbidden, Invalid, NotFound
from paas.platform.models import App, Domain
from paas.platform.names import check_hostname


def checked_hostname(hostname) -> str:
    host = check_hostname(hostname)
    base = settings.PAAS_BASE_DOMAIN
    if host == base or host.endswith("." + base):
        raise Invalid(f"{host} is under the platform's own domain {base}; apps get <name>.{base} already")
    return host


def verified_elsewhere(app: App, host: str) -> bool:
    return Domain.objects.filter(hostname=host, verified_at__isnull=False).exclude(app=app).exists()


def add_domain(user, app: App, hostname, *, skip_verification: bool = False) -> Domain:
    """Claim ``hostname`` for ``app``: pending until verified, or routed at once by an admin."""
    host = checked_hostname(hostname)
    if skip_verification is not True and skip_verification is not False:
        raise Invalid("skip_verification must be true or false")
    if skip_verification and not user.is_staff:
        raise Forbidden("only platform admins can route a domain without verifying it")
    if verified_elsewhere(app, host):
        raise Conflict(f"domain {host} is already verified by another app")
    try:
        with transaction.atomic():
            domain, created = Domain.objects.select_for_update().get_or_create(app=app, hostname=host)
            if not created and not (skip_verification and domain.verified_at is None):
                raise Conflict(f"domain {host} is already added to {app.name}")
            if skip_verification:
                domain.verified_at, domain.verified_by = timezone.now(), Domain.BY_ADMIN
                domain.save(update_fields=["verified_at", "verified_by"])
                record(user, "domain.add", f"added domain {host}, routed without DNS verification by an admin",
                       app=app, hostname=host, skip_verification=True)
                transaction.on_commit(wake)
            else:
                record(user, "domain.add", f"added domain {host} (pending: TXT record at {domain.record_name})",
                       app=app, hostname=host)
    except IntegrityError:  # a concurrent add or verification of the same hostname won
        raise Conflict(f"domain {host} was just added to {app.name} or verified by another app") from None
    return domain


def claim_to_verify(app: App, hostname) -> Domain:
    """The app's claim on ``hostname``, checked before its DNS is asked (verify: step 1 of 2)."""
    host = checked_hostname(hostname)
    domain = get_domain(app, host)
    if domain.verified_at is None and verified_elsewhere(app, host):
        raise Conflict(f"domain {host} is already verified by another app")
    return domain


def confirm_domain(user, domain: Domain, values: list[str] | None) -> Domain:
    """Route a claim whose TXT record (``values``, None for none) holds its token (verify: step 2 of 2).

    Between the two steps the DNS lookup runs outside any transaction: it may take up to
    PAAS_DNS_TIMEOUT_S (platform/dnsproof.py).
    """
    if domain.verified_at is not None:
        return domain
    if values is None:
        raise Invalid(f"no TXT record at {domain.record_name} yet: create one holding {domain.token} "
                      f"(DNS changes can take a few minutes to show), then verify again")
    if domain.token not in values:
        raise Invalid(f"the TXT record at {domain.record_name} does not hold this app's token "
                      f"({len(values)} other value(s) found): set it to {domain.token}")
    try:
        with transaction.atomic():
            updated = Domain.objects.filter(pk=domain.pk, verified_at__isnull=True).update(
                verified_at=timezone.now(), verified_by=Domain.BY_DNS)
            if updated:
                record(user, "domain.verify", f"verified domain {domain.hostname} (TXT record at "
                       f"{domain.record_name})", app=domain.app, hostname=domain.hostname)
                transaction.on_commit(wake)
    except IntegrityError:
        raise Conflict(f"domain {domain.hostname} was just verified by another app") from None
    domain.refresh_from_db()
    return domain


def get_domain(app: App, host: str) -> Domain:
    try:
        return Domain.objects.select_related("app").get(app=app, hostname=host)
    except Domain.DoesNotExist:
        raise NotFound(f"domain {host} is not added to {app.name}") from None


def remove_domain(user, app: App, hostname) -> None:
    """Forget the claim; the domain stops routing to the app if it was verified."""
    host = checked_hostname(hostname)
    with transaction.atomic():
        deleted, _ = Domain.objects.filter(app=app, hostname=host).delete()
        if not deleted:
            raise NotFound(f"domain {host} is not added to {app.name}")
        record(user, "domain.remove", f"removed domain {host}", app=app, hostname=host)
        transaction.on_commit(wake)
