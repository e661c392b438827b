"""The private services' passwords: generated at first start, kept 0600 in the data directory.

``make up`` runs PostgreSQL and Redis of its own (services.py). Their passwords are
random, made the first time they are needed, and stored one per file in
``<data dir>/credentials/`` (directory 0700, files 0600, owned by whoever runs
``make up``). They reach the platform's processes only through the environment
(``DATABASE_URL`` / ``REDIS_URL``), never a command line: every user can read any
process's ``/proc/<pid>/cmdline``, while ``/proc/<pid>/environ`` is its owner's.

The servers themselves are given only hashes: a SCRAM-SHA-256 verifier for
PostgreSQL, a SHA-256 for Redis's ACL, so neither server's files nor its logs hold
a password.
"""

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

#: A password is one line of URL-safe characters; anything else in the file is refused.
MAX_BYTES = 256
# PostgreSQL's own default for the verifiers it makes (scram_iterations).
SCRAM_ITERATIONS = 4096


class CredentialError(Exception):
    """A credentials file cannot be used; the message names it, never its content."""


def credentials_dir(data_dir: Path) -> Path:
    """``<data_dir>/credentials``, created 0700; refused if it is a link or not a directory."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    path = Path(data_dir) / "credentials"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise CredentialError(f"{path} is not a directory (a link or a file is refused)")
    if info.st_uid != os.geteuid():
        raise CredentialError(f"{path} belongs to uid {info.st_uid}, not to us")
    os.chmod(path, 0o700)
    return path


def secret(data_dir: Path, name: str) -> tuple[str, bool]:
    """The password stored as ``name`` under the credentials directory, made now if missing.

    Returns ``(password, created)``: ``created`` tells set-up that a server which may
    already exist has to be given this new password.
    """
    path = credentials_dir(data_dir) / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return read_secret(path), False
    value = secrets.token_urlsafe(32)
    try:
        os.write(fd, value.encode() + b"\n")
    finally:
        os.close(fd)
    return value, True


def read_secret(path: Path) -> str:
    """One stored password: a regular file of ours, 0600, not a link, small, one line of URL-safe text."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        raise CredentialError(f"cannot open {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CredentialError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise CredentialError(f"{path} belongs to uid {info.st_uid}, not to us")
        if info.st_mode & 0o077:
            raise CredentialError(f"{path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                                  "it must be 0600")
        raw = os.read(fd, MAX_BYTES + 1)
    finally:
        os.close(fd)
    value = raw.decode("ascii", errors="replace").strip()
    if len(raw) > MAX_BYTES or not value or not all(c.isalnum() or c in "-_" for c in value):
        raise CredentialError(f"{path} does not hold a password as paas writes them")
    return value


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's stored form of ``password`` (RFC 5802 / 7677), as its own ``password_encryption`` makes it.

    ``CREATE ROLE ... PASSWORD '<verifier>'`` stores the verifier as given, so the
    password itself never reaches the server, its statement log or initdb's files.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def redis_hash(password: str) -> str:
    """Redis ACL's stored form of ``password`` (``#<sha256 hex>`` in a ``user`` rule)."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()
