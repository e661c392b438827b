"""First start: an admin account whose credentials are printed once, and an admin token file."""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from paas.platform.actions.events import record
from paas.platform.actions.tokens import issue_token
from paas.platform.actions.users import check_password

ADMIN_USERNAME = "admin"
TOKEN_FILE = "admin-token"


@dataclass
class FirstStart:
    username: str
    password: str
    token_file: Path


def ensure_admin(data_dir: Path) -> FirstStart | None:
    """Create the first admin if there is no admin yet; return its credentials only then."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    # Random, so it passes; checked all the same, so the first admin is held to the policy too.
    check_password(password, User(username=ADMIN_USERNAME))
    with transaction.atomic():
        user = User.objects.create_superuser(ADMIN_USERNAME, "", password)
        record(None, "user.create", f"created first admin {ADMIN_USERNAME}", user=ADMIN_USERNAME)
        _, secret = issue_token(user, description="admin token written at first start", ttl_days=3650)
    token_file = Path(data_dir) / TOKEN_FILE
    write_private(token_file, secret + "\n")
    return FirstStart(ADMIN_USERNAME, password, token_file)


def write_private(path: Path, text: str) -> None:
    """Write a secret so that only the owner can ever read it (no window with wider mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
