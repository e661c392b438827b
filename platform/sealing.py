"""Secrets the platform must use again (a registry password) sealed at rest with Fernet.

The key is derived from PAAS_SECRET_KEY (HKDF-SHA256, a purpose label of its own), so a copy of the
database alone does not reveal them; rotating PAAS_SECRET_KEY makes sealed values unreadable, and
`unseal` says so instead of failing obscurely.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from paas.platform.exceptions import Conflict


def _fernet(purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=f"paas sealing: {purpose}".encode()).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(purpose: str, secret: str) -> str:
    """`secret` encrypted and authenticated for `purpose`: text to store."""
    return _fernet(purpose).encrypt(secret.encode()).decode()


def unseal(purpose: str, sealed: str) -> str:
    """The secret `seal(purpose, ...)` stored; Conflict when it was sealed under another key."""
    try:
        return _fernet(purpose).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        raise Conflict("a stored secret cannot be read with this PAAS_SECRET_KEY (was it changed?); "
                       "log in again") from None
