"""Accounts: created by admins (or by the platform's first start)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from paas.platform.actions.events import record
from paas.platform.exceptions import Conflict, Forbidden, Invalid
from paas.platform.names import check_text

MAX_PASSWORD = 4096  # hashing is deliberately slow: a megabyte password would be a cheap attack


def check_password(password, user) -> str:
    """Apply Django's password validators (AUTH_PASSWORD_VALIDATORS) to a password about to be set for ``user``."""
    check_text(password, "password", multiline=True, max_length=MAX_PASSWORD)
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise Invalid(" ".join(error.messages)) from None
    return password


def create_user(actor, username: str, password: str, email: str = "", is_admin: bool = False):
    """Create an account (admins only; ``actor`` None is the platform itself), its password validated."""
    if actor is not None and not actor.is_staff:
        raise Forbidden("only admins can create accounts")
    User = get_user_model()
    if not isinstance(username, str) or not username or len(username) > 150:
        raise Invalid("username is required (at most 150 characters)")
    check_text(email, "email", max_length=254)
    try:
        User.username_validator(username)
        if email:
            validate_email(email)
    except ValidationError as error:
        raise Invalid(" ".join(error.messages)) from None
    check_password(password, User(username=username, email=email))
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
            if is_admin:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            record(actor, "user.create", f"created {'admin' if is_admin else 'user'} {username}", user=username)
    except IntegrityError:
        raise Conflict(f"user {username!r} already exists") from None
    return user
