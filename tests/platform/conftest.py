"""Every control-plane test has Redis keys of its own (the fixtures are tests/platform/accounts.py)."""

import pytest


@pytest.fixture(autouse=True)
def _own_redis_keys(own_redis_keys):
    """Login failure counts, wake channels, follows: nothing carries over from another test."""
