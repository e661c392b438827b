"""The platform's trust bundle: the CA certificates every build and instance trusts.

A debootstrapped stack trusts only Debian's CA list, so where outbound TLS passes an
intercepting proxy whose CA the host trusts (a company's, this machine's), every registry
fetch from such a stack fails. As Cloud Foundry's trusted system certificates do, the host's
own bundle (HOST_BUNDLE) plus an operator's extra file (PAAS_TRUSTED_CA_FILE, PEM) is written
to ``<runtime dir>/trust/ca-certificates.crt`` and every stack binds that directory read-only
over ``/etc/ssl/certs``, where OpenSSL, curl, git, pip and apt look (layout.CA_BUNDLE).
The platform's own CA (pki/authority.py) is in it too, where this host has it: apps verify
their add-ons' TLS (REDIS_TLS_URL, sslmode=verify-full) and other apps' https URLs without
being handed a file. A worker host without the CA's certificate in its data dir gets it
through PAAS_TRUSTED_CA_FILE.

The bundle is public data (certificates, no keys): a tenant may read it.
"""

import os
import ssl
import stat
import tempfile
from pathlib import Path

from paas.buildpacks.layout import CA_BUNDLE

from . import config
from .errors import StackError

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CONTAINER_DIR = os.path.dirname(CA_BUNDLE)
BUNDLE_NAME = os.path.basename(CA_BUNDLE)
MAX_CA_FILE_BYTES = 4 << 20  # Debian's whole list is ~220 KB


def trust_dir() -> Path:
    return config.runtime_dir() / "trust"


def with_trust_bind(binds: list) -> list[list[str]]:
    """`binds` ([source, target] pairs) with the trust directory over /etc/ssl/certs instead of
    any other bind there (a host stack made before the bundle existed bound the host's own)."""
    kept = [[str(s), d] for s, d in binds if d.rstrip("/") != CONTAINER_DIR]
    return [*kept, [str(trust_dir()), CONTAINER_DIR]]


def extra_ca_file() -> Path | None:
    return config.trusted_ca_file()


def _read_pem(path: Path, what: str) -> str:
    """The certificates in `path`, checked: a regular file of bounded size that OpenSSL loads.
    Links are followed: these are the operator's files (Debian's own CA files are links)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise StackError(f"{what} {path} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StackError(f"{what} {path} is not a regular file")
        data = f.read(MAX_CA_FILE_BYTES + 1)
    if len(data) > MAX_CA_FILE_BYTES:
        raise StackError(f"{what} {path} is larger than {MAX_CA_FILE_BYTES >> 20} MB")
    text = data.decode("ascii", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise StackError(f"{what} {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        raise StackError(f"{what} {path} is not a valid PEM certificate file: {exc}") from None
    return text


def platform_ca_file() -> Path:
    from paas.pki.authority import ca_cert_path

    return ca_cert_path()


def bundle_text() -> str:
    """The host's bundle, the operator's extra certificates, then the platform's CA (when made here)."""
    parts = []
    if HOST_BUNDLE.is_file():
        parts.append(_read_pem(HOST_BUNDLE, "the host's CA bundle"))
    extra = extra_ca_file()
    if extra is not None:
        parts.append(_read_pem(extra, "PAAS_TRUSTED_CA_FILE"))
    if platform_ca_file().is_file():
        parts.append(_read_pem(platform_ca_file(), "the platform's CA certificate"))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def refresh() -> Path:
    """Write the bundle when it differs from what the sources hold now; return the trust dir.
    Cheap when nothing changed: the sources' sizes and times are the key."""
    directory = trust_dir()
    stamp = _stamp()
    stamp_file = directory / ".stamp"
    try:
        if stamp_file.read_text() == stamp and (directory / BUNDLE_NAME).is_file():
            return directory
    except OSError:
        pass
    text = bundle_text()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    _atomic_write(directory / BUNDLE_NAME, text)
    _atomic_write(stamp_file, stamp)
    return directory


def _stamp() -> str:
    parts = []
    for path in (HOST_BUNDLE, extra_ca_file(), platform_ca_file()):
        if path is None:
            parts.append("-")
            continue
        try:
            st = os.stat(path)
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
        except OSError:
            parts.append(f"{path}:missing")
    return "\n".join(parts)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
