"""Fixtures for the control plane: users with tokens and a JSON client speaking as them.

A plugin of tests/conftest.py (every folder may use them); tests/platform/conftest.py gives each
of its tests Redis keys of its own, other folders ask for ``own_redis_keys``.
"""

import json
import os
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from paas.platform.actions.tokens import issue_token


class ApiClient:
    """Django's test client, sending JSON with a bearer token."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body=None, raw: bytes | None = None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else b"")
        response = self.client.generic(method.upper(), path, data, content_type="application/json", **self.headers)
        response.json_body = json.loads(response.content) if response.content else None
        return response

    def get(self, path):
        return self.call("get", path)

    def post(self, path, body=None, raw=None):
        return self.call("post", path, body, raw)

    def patch(self, path, body=None, raw=None):
        return self.call("patch", path, body, raw)

    def delete(self, path):
        return self.call("delete", path)


def make_user(username: str, admin: bool = False):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "correct-horse-battery")
    if admin:
        user.is_staff = user.is_superuser = True
        user.save()
    return user


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def root(db):
    return make_user("root-admin", admin=True)


def client_for(user, **token_options) -> ApiClient:
    _, secret = issue_token(user, **token_options)
    return ApiClient(secret)


@pytest.fixture
def as_alice(alice):
    return client_for(alice)


@pytest.fixture
def as_bob(bob):
    return client_for(bob)


@pytest.fixture
def as_admin(root):
    return client_for(root)


@pytest.fixture
def own_redis_keys(settings):
    """Redis keys of this test alone (login failure counts, wake channels): nothing carries over."""
    settings.PAAS_REDIS_PREFIX = f"t{os.getpid()}-{uuid.uuid4().hex[:8]}:"
