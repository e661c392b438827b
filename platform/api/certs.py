"""Certificates: the platform CA's (public), and those users upload for their custom domains."""

from django.utils import timezone

from paas.pki import authority
from paas.platform.actions import access
from paas.platform.actions.certs import (
    add_certificate,
    get_certificate,
    remove_certificate,
    served_domains,
    set_auto_certificates,
)
from paas.platform.api.routing import body_schema


def ca_certificate(request):
    """The platform CA's certificate (PEM) and its SHA-256 fingerprint; public, like any CA certificate."""
    return {"certificate": authority.ca_pem(), "sha256": authority.ca_fingerprint()}


def certificate_json(cert, *, chain: bool = False) -> dict:
    """An uploaded certificate as users see it: never its key."""
    days = (cert.not_after - timezone.now()).total_seconds() / 86400
    out = {"name": cert.name, "app": cert.app.name, "names": cert.names, "domains": served_domains(cert),
           "source": cert.source,
           "fingerprint": cert.fingerprint, "expires_at": cert.not_after.isoformat(),
           "expires_in_days": int(days), "expired": days <= 0, "created_at": cert.created_at.isoformat()}
    if chain:
        out["chain"] = cert.chain_pem
    return out


def list_certificates(request, app):
    """The app's uploaded certificates, with their expiry."""
    target = access.get_app(request.user, app)
    return [certificate_json(c) for c in target.certificates.select_related("app")]


@body_schema({"certificate": "string (PEM: the certificate, then its intermediates)",
              "key": "string (PEM private key, unencrypted)"})
def create(request, app):
    """Upload a certificate and its key for the app's verified custom domains."""
    target = access.get_app(request.user, app)
    cert = add_certificate(request.user, target, request.data.get("certificate"), request.data.get("key"))
    return 201, certificate_json(cert)


def info(request, app, cert):
    """One uploaded certificate, with its chain."""
    return certificate_json(get_certificate(access.get_app(request.user, app), cert), chain=True)


def destroy(request, app, cert):
    """Stop serving an uploaded certificate."""
    remove_certificate(request.user, access.get_app(request.user, app), cert)
    return {"removed": cert}


def auto_json(app) -> dict:
    """Whether the app's verified domains get ACME certificates, and each domain's last order."""
    domains = app.domains.filter(verified_at__isnull=False).order_by("hostname")
    return {"app": app.name, "enabled": app.acme,
            "domains": [{"hostname": d.hostname, "status": d.acme_status or ("waiting" if app.acme else "off"),
                         "error": d.acme_error or None,
                         "next_try": d.acme_next_try.isoformat() if d.acme_next_try else None} for d in domains]}


def auto_status(request, app):
    """Automatic certificates: on or off, and the last order of each verified domain with the CA's error."""
    return auto_json(access.get_app(request.user, app))


@body_schema({"enabled": "boolean"})
def set_auto(request, app):
    """Turn automatic certificates (ACME HTTP-01) on or off for the app's verified custom domains."""
    target = set_auto_certificates(request.user, access.get_app(request.user, app), request.data.get("enabled"))
    return auto_json(target)
