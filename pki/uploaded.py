"""Certificates users upload (``paas certs:add CERT KEY``): read, checked, their chain completed.

Plain functions over the two PEM texts; every refusal is a ``CertificateError`` whose message
says what was wrong in the user's terms, and nothing of the texts is echoed back.
"""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

MAX_PEM_BYTES = 64 * 1024   # a leaf, a few intermediates and a key fit in a fraction of this
PEM_CERT = b"-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """An uploaded certificate or key that cannot be served; the message names the problem."""


@dataclass(frozen=True)
class Uploaded:
    chain_pem: str          # the leaf first, then its issuers found in the file, in order
    key_pem: str            # PKCS#8, unencrypted (the router loads it)
    names: tuple            # the leaf's DNS subject alternative names, lowercase
    not_after: datetime.datetime
    fingerprint: str        # SHA-256 of the leaf, hex with colons
    not_before: datetime.datetime | None = None
    self_signed: bool = False   # the leaf signed itself (a CA would not: a domain on ACME refuses it)


def _text(value, what: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise CertificateError(f"{what} is empty")
    data = value.encode()
    if len(data) > MAX_PEM_BYTES:
        raise CertificateError(f"{what} is larger than {MAX_PEM_BYTES // 1024} KiB")
    return data


def _certificates(data: bytes) -> list:
    if b"PRIVATE KEY-----" in data and PEM_CERT not in data:
        raise CertificateError("CERT holds a private key, not a certificate (the key goes second: certs:add CERT KEY)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise CertificateError("CERT is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    return certs


def _key(data: bytes):
    if b"ENCRYPTED" in data:
        raise CertificateError("KEY is protected by a passphrase: give it decrypted (openssl pkey -in KEY -out plain.key)")
    if PEM_CERT in data and b"PRIVATE KEY-----" not in data:
        raise CertificateError("KEY holds a certificate, not a private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateError("KEY is protected by a passphrase: give it decrypted "
                               "(openssl pkey -in KEY -out plain.key)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError("KEY is not a PEM private key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise CertificateError("KEY is of a kind TLS servers do not use (use RSA or ECDSA)")
    return key


def _public(obj) -> bytes:
    return obj.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _chain(leaf, others: list) -> list:
    """The leaf, then each issuer present in the file, in order (the root may be left out, as usual)."""
    chain, current, left = [leaf], leaf, [c for c in others if c is not leaf]
    while current.issuer != current.subject:
        parent = next((c for c in left if c.subject == current.issuer), None)
        if parent is None:
            break
        chain.append(parent)
        left.remove(parent)
        current = parent
    return chain


def dns_names(cert) -> tuple:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(name.lower() for name in san.get_values_for_type(x509.DNSName))


def covers(pattern: str, host: str) -> bool:
    """Whether a certificate name covers ``host``: equal, or a wildcard for exactly one label."""
    if pattern == host:
        return True
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label and dot) and rest == pattern[2:]
    return False


def read_upload(cert_text, key_text, now: datetime.datetime | None = None) -> Uploaded:
    """Check an upload: PEM certificate(s) and a matching, unencrypted key for a currently valid leaf."""
    certs = _certificates(_text(cert_text, "CERT"))
    key = _key(_text(key_text, "KEY"))
    mine = _public(key)
    leaf = next((c for c in certs if _public(c) == mine), None)
    if leaf is None:
        raise CertificateError("KEY does not match the certificate (no certificate in CERT has its public key)")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if leaf.not_valid_after_utc <= now:
        raise CertificateError(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        raise CertificateError(f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    names = dns_names(leaf)
    if not names:
        raise CertificateError("the certificate names no DNS host (subjectAltName)")
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in _chain(leaf, certs))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fingerprint = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA256()))
    return Uploaded(chain.decode(), key_pem.decode(), names, leaf.not_valid_after_utc, fingerprint,
                    leaf.not_valid_before_utc, _signed_by_itself(leaf))


def _signed_by_itself(cert) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
