"""Which certificate authority the CLI (and git) trust for an https:// API: the system's, or the platform's own.

A platform with a certificate from a public CA needs nothing. One serving the platform CA's
certificates (router/serving/tls.py) is trusted on first contact, as SSH trusts a host key:
``paas login --api https://...`` fetches the CA, shows its SHA-256 fingerprint once (compare it
with ``paas certs:ca`` on the platform) and keeps it in the CLI's config directory; or the user
gives the file (``--ca FILE``) and nothing is fetched. Every later request is verified against it,
and git is told to use it for the platform's URLs only (``http.<url>.sslCAInfo``).
"""

import hashlib
import http.client
import json
import ssl
import subprocess
import sys
from urllib.parse import urlsplit

from paas.platform.cli import credentials
from paas.platform.cli.errors import CliError

MAX_CA_BYTES = 64 * 1024
TIMEOUT_S = 30


def context(url: str) -> ssl.SSLContext | None:
    """The TLS context for ``url``: verified against the stored platform CA, or the system's trust store."""
    if urlsplit(url).scheme != "https":
        return None
    ca = credentials.load_config().get("ca_file")
    return ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()


def read_ca(data: bytes, where: str):
    """One PEM CA certificate from ``data``, or a CliError saying what ``where`` held instead."""
    # Here, not at the top: every command imports this module, few read a certificate.
    from cryptography import x509

    if len(data) > MAX_CA_BYTES:
        raise CliError(f"{where} is larger than {MAX_CA_BYTES // 1024} KiB: not a CA certificate")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CliError(f"{where} is not a PEM certificate") from None
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CliError(f"{where} is not a CA certificate (no CA basic constraint)")
    return cert


def fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def establish(url: str, ca_path: str | None) -> str | None:
    """Decide what to trust for ``url`` before logging in; the CA file kept, or None (system trust)."""
    if urlsplit(url).scheme != "https":
        if ca_path:
            raise CliError("--ca is for an https:// API URL")
        return None
    if ca_path:
        try:
            with open(ca_path, "rb") as handle:
                data = handle.read(MAX_CA_BYTES + 1)
        except OSError as error:
            raise CliError(f"cannot read --ca file {ca_path}: {error.strerror}") from None
        return _keep(read_ca(data, f"--ca file {ca_path}"))
    stored = credentials.load_config().get("ca_file")
    for cafile in ([stored] if stored else []) + [None]:
        if _verifies(url, cafile):
            return cafile
    # Neither the stored CA nor the system's: trust on first contact, showing what is trusted.
    cert = read_ca(_fetch_ca_unverified(url), f"the CA {url} sent")
    path = _keep(cert)
    print(f"The platform at {url} uses its own certificate authority.\n"
          f"  SHA-256 fingerprint: {fingerprint(cert)}\n"
          f"Trusting it from now on (kept in {path}); compare with `paas certs:ca` on the platform.",
          file=sys.stderr)
    return path


def _verifies(url: str, cafile: str | None) -> bool:
    parts = urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=TIMEOUT_S, context=ctx)
    try:
        connection.connect()
        return True
    except ssl.SSLCertVerificationError:
        return False
    except (OSError, ssl.SSLError) as error:
        raise CliError(f"cannot reach the paas API at {url}: {error}") from None
    finally:
        connection.close()


def _fetch_ca_unverified(url: str) -> bytes:
    # Unverified on purpose, once: what it returns is shown and checked by every verified request after.
    parts = urlsplit(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=TIMEOUT_S, context=ctx)
    try:
        connection.request("GET", parts.path.rstrip("/") + "/api/certs/ca", headers={"Accept": "application/json"})
        response = connection.getresponse()
        payload = response.read(MAX_CA_BYTES * 2)
        if response.status != 200:
            raise CliError(f"the paas API at {url} did not give its CA (HTTP {response.status}); use --ca FILE")
        return json.loads(payload)["certificate"].encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CliError(f"the paas API at {url} did not give its CA; use --ca FILE") from None
    except (OSError, http.client.HTTPException) as error:
        raise CliError(f"cannot reach the paas API at {url}: {error}") from None
    finally:
        connection.close()


def _keep(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    directory = credentials.config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ca.pem"
    credentials.write_private(path, cert.public_bytes(serialization.Encoding.PEM).decode())
    return str(path)


def configure_git(urls: set[str], cafile: str | None) -> None:
    """``git config --global http.<origin>/.sslCAInfo`` for each https URL, so pushes verify without prompts."""
    for url in sorted(urls):
        parts = urlsplit(url)
        if parts.scheme != "https":
            continue
        key = f"http.https://{parts.netloc}/.sslCAInfo"
        args = ["git", "config", "--global"] + ([key, cafile] if cafile else ["--unset-all", key])
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CliError(f"cannot configure git for {url}: {error}") from None
        # --unset-all of a key that is not set exits 5: nothing to undo.
        if done.returncode not in (0, 5):
            raise CliError(f"cannot configure git for {url}: {done.stderr.strip()[:200]}")
