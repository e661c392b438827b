"""Django's password validators apply wherever a password is set (issue 10, item 6)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import get_default_password_validators

from paas.platform.bootstrap import ensure_admin
from paas.platform.exceptions import Invalid


def test_the_four_validators_are_on():
    names = {type(v).__name__ for v in get_default_password_validators()}
    assert names == {"UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"}


def test_the_first_admin_gets_a_password_that_passes_them(db, tmp_path):
    first = ensure_admin(tmp_path)
    admin = get_user_model().objects.get(username=first.username)
    assert admin.is_superuser and admin.check_password(first.password)
    assert len(first.password) >= 10


def test_the_first_admin_is_held_to_the_policy(db, tmp_path, settings):
    settings.AUTH_PASSWORD_VALIDATORS = [{"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
                                          "OPTIONS": {"min_length": 64}}]
    with pytest.raises(Invalid, match="too short"):  # Django drops its cached validators on the change
        ensure_admin(tmp_path)
    assert not get_user_model().objects.exists()
    assert not (tmp_path / "admin-token").exists()
