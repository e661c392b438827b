"""The platform CA's certificate: what clients trust to reach apps over HTTPS."""

from paas.pki import authority


def ca_certificate(request):
    """The platform CA's certificate (PEM) and its SHA-256 fingerprint; public, like any CA certificate."""
    return {"certificate": authority.ca_pem(), "sha256": authority.ca_fingerprint()}
