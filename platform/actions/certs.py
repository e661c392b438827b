"""Certificates users upload for their apps' custom domains (``paas certs:add``).

The upload is checked whole (pki/uploaded.py) before anything is stored, so a bad one never
replaces a good one; the control loop publishes the result to the router (control/certs.py).
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from paas.pki.uploaded import CertificateError, covers, read_upload
from paas.platform.actions.events import record
from paas.platform.control.wake import wake
from paas.platform.exceptions import Conflict, Invalid, NotFound, Unavailable
from paas.platform.models import App, Certificate, Domain

EXPIRY_WARNING_DAYS = 14


def add_certificate(user, app: App, cert_text, key_text) -> Certificate:
    """Store an uploaded certificate for ``app``; its names must cover a verified domain of the app."""
    try:
        upload = read_upload(cert_text, key_text)
    except CertificateError as error:
        raise Invalid(str(error)) from None
    verified = list(Domain.objects.filter(app=app, verified_at__isnull=False).values_list("hostname", flat=True))
    served = sorted(h for h in verified if any(covers(n, h) for n in upload.names))
    if not served:
        raise Invalid(f"the certificate is for {', '.join(upload.names)}, which covers no verified domain of "
                      f"{app.name} (add and verify one first: paas domains:add, paas domains:verify)")
    if upload.self_signed and app.acme:
        # It would be served (the newest wins) in place of the CA-issued one browsers trust.
        raise Invalid(f"the certificate is self-signed, and {', '.join(served)} gets its certificates from ACME "
                      f"(paas certs:auto): browsers would not trust it; turn certs:auto:disable first to serve your own")
    name = upload.fingerprint.replace(":", "")[:16].lower()
    try:
        with transaction.atomic():
            cert = Certificate.objects.create(app=app, name=name, fingerprint=upload.fingerprint, source=Certificate.UPLOAD,
                                              chain_pem=upload.chain_pem, key_pem=upload.key_pem,
                                              names=list(upload.names), not_after=upload.not_after)
            record(user, "cert.add", f"added certificate {name} for {', '.join(served)}", app=app,
                   certificate=name, names=list(upload.names), expires=upload.not_after.isoformat())
            transaction.on_commit(wake)
    except IntegrityError:
        raise Conflict(f"this certificate ({name}) is already added to {app.name}") from None
    return cert


def get_certificate(app: App, name) -> Certificate:
    if not isinstance(name, str):
        raise NotFound("no such certificate")
    try:
        return Certificate.objects.get(app=app, name=name)
    except Certificate.DoesNotExist:
        raise NotFound(f"no certificate {name} on {app.name}") from None


def remove_certificate(user, app: App, name) -> None:
    with transaction.atomic():
        cert = get_certificate(app, name)
        cert.delete()
        record(user, "cert.remove", f"removed certificate {cert.name}", app=app, certificate=cert.name)
        transaction.on_commit(wake)


def served_domains(cert: Certificate) -> list[str]:
    """The app's verified domains this certificate's names cover."""
    verified = Domain.objects.filter(app_id=cert.app_id, verified_at__isnull=False).values_list("hostname", flat=True)
    return sorted(h for h in verified if any(covers(n, h) for n in cert.names))


def warn_expiring(now=None) -> int:
    """A platform event, once, for each certificate within EXPIRY_WARNING_DAYS of expiring; how many."""
    now = now or timezone.now()
    due = Certificate.objects.filter(expiry_warned_at__isnull=True,
                                     not_after__lte=now + timezone.timedelta(days=EXPIRY_WARNING_DAYS))
    count = 0
    for cert in due.select_related("app"):
        # An ACME certificate this close to its end has failed to renew at two thirds of its lifetime.
        fix = ("its renewal has not succeeded: paas certs:auto shows the CA's error" if cert.source == Certificate.ACME
               else "upload a renewed one with paas certs:add")
        with transaction.atomic():
            record(None, "cert.expiring", f"certificate {cert.name} ({', '.join(cert.names)}) expires on "
                   f"{cert.not_after:%Y-%m-%d}: {fix}", app=cert.app,
                   certificate=cert.name, expires=cert.not_after.isoformat())
            Certificate.objects.filter(pk=cert.pk).update(expiry_warned_at=now)
        count += 1
    return count


def set_auto_certificates(user, app: App, enabled) -> App:
    """Turn automatic certificates (ACME, control/acme.py) on or off for the app's verified custom domains.

    Off keeps the certificates already issued (served until they expire) and orders no more."""
    if not isinstance(enabled, bool):
        raise Invalid('give {"enabled": true} or {"enabled": false}')
    if enabled and not settings.PAAS_ACME_DIRECTORY:
        raise Unavailable("automatic certificates are off on this platform (its operator set no PAAS_ACME_DIRECTORY)")
    with transaction.atomic():
        app = App.objects.select_for_update().get(pk=app.pk)
        if app.acme != enabled:
            app.acme = enabled
            app.save(update_fields=["acme", "updated_at"])
            # A fresh start: earlier failures do not hold back the first order.
            Domain.objects.filter(app=app).update(acme_status="", acme_error="", acme_failures=0, acme_next_try=None)
            record(user, "cert.auto", f"automatic certificates {'on' if enabled else 'off'}", app=app)
            transaction.on_commit(wake)
    return app
