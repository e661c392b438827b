"""The platform's certificate authority: made at first use, its key 0600 in the data directory.

One CA for everything the platform serves over TLS: add-on servers and the
router's wildcard certificate for ``*.<base-domain>``. Leaf certificates are
short-lived enough to be re-issued rather than revoked.
"""

import datetime
import fcntl
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_DAYS = 3650
LEAF_DAYS = 825  # the longest validity clients accept for a leaf


def ca_dir() -> Path:
    from paas.runtime import config

    return config.data_dir() / "pki"


def ca_cert_path() -> Path:
    """The CA's certificate (public): what clients and every build and instance trust."""
    return ca_dir() / "ca.crt"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paas"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA's certificate and key, made on first use (a concurrent first use: one wins, all read it)."""
    directory = ca_dir()
    cert_path, key_path = ca_cert_path(), directory / "ca.key"
    if not cert_path.is_file():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name("paas platform CA")).issuer_name(_name("paas platform CA"))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        tmp = directory / f".ca-{os.getpid()}"
        tmp.mkdir(mode=0o700)
        _write_private(tmp / "ca.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        (tmp / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        try:
            os.rename(tmp / "ca.key", key_path)  # the key first: a certificate on disk always has its key
            os.rename(tmp / "ca.crt", cert_path)
        except OSError:
            pass
        finally:
            for leftover in tmp.iterdir():
                leftover.unlink()
            tmp.rmdir()
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return cert, key


def ca_pem() -> str:
    return ensure_ca()[0].public_bytes(serialization.Encoding.PEM).decode()


def issue(common_name: str, names: list[str] = (), addresses: list[str] = ()) -> tuple[str, str]:
    """A server certificate for `common_name` (and DNS `names`, IP `addresses`): (certificate PEM, key PEM)."""
    ca_cert, ca_key = ensure_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName(n) for n in (common_name, *names)] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return chain.decode(), key_pem.decode()


def remaining_days(cert_pem: bytes) -> float:
    """Days until the first certificate in ``cert_pem`` expires (negative once expired)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left.total_seconds() / 86400


def ensure_server_files(directory: Path, name: str, names: list[str] = (), renew_days: float = 30) -> tuple[Path, Path]:
    """Certificate chain and key files for ``name`` (and ``names``) in ``directory``: issued by the CA
    when missing or within ``renew_days`` of expiry, written key first and renamed into place."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = name.replace("*", "_wildcard")
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if cert_path.is_file() and key_path.is_file() and remaining_days(cert_path.read_bytes()) > renew_days:
        return cert_path, key_path
    # One issuer at a time: the router's workers start together, and two interleaved issues left
    # one's key beside the other's certificate (KEY_VALUES_MISMATCH on every start after).
    with open(directory / f".{stem}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cert_path.is_file() and key_path.is_file() and remaining_days(cert_path.read_bytes()) > renew_days:
            return cert_path, key_path
        chain, key = issue(name, list(names))
        for path, data in ((key_path, key), (cert_path, chain)):
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            _write_private(tmp, data.encode())
            os.rename(tmp, path)
    return cert_path, key_path


def ca_fingerprint() -> str:
    """The CA certificate's SHA-256 fingerprint as colon-separated hex, as browsers and openssl show it."""
    digest = ensure_ca()[0].fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)
