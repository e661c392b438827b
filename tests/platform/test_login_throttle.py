"""One login throttle for every password path (issue 10, item 6): /api/login, admin's login, any authenticate()."""

import json

import pytest
from django.contrib.auth import authenticate
from django.test import Client

from paas.platform.exceptions import TooManyRequests

ADDRESS = "192.0.2.7"
PASSWORD = "correct-horse-battery"  # tests/platform/accounts.py's make_user


def admin_login(client: Client, username: str, password: str, address: str = ADDRESS):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       REMOTE_ADDR=address)


def api_login(username: str, password: str, address: str = ADDRESS):
    return Client().post("/api/login", json.dumps({"username": username, "password": password}),
                         content_type="application/json", REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_admin_login_locks_after_the_failures_and_refuses_even_the_right_password(root, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        response = admin_login(client, root.username, "guess")
        assert response.status_code == 200 and not logged_in(client)
    locked = admin_login(client, root.username, PASSWORD)
    assert locked.status_code == 200
    assert "too many failed logins" in locked.content.decode()
    assert not logged_in(client)


def test_admin_login_works_below_the_limit(root, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 3
    client = Client()
    admin_login(client, root.username, "guess")
    response = admin_login(client, root.username, PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_failures_on_the_api_lock_the_admin_login_and_back(root, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 4
    for _ in range(2):
        assert api_login(root.username, "guess").status_code == 401
    for _ in range(2):
        admin_login(Client(), root.username, "guess")
    assert api_login(root.username, PASSWORD).status_code == 429
    client = Client()
    assert "too many failed logins" in admin_login(client, root.username, PASSWORD).content.decode()
    assert not logged_in(client)


def test_one_address_guessing_through_admin_is_stopped(db, settings):
    settings.PAAS_LOGIN_MAX_FAILURES = 1  # and so 5 from one address
    for number in range(5):
        admin_login(Client(), f"nobody{number}", "guess")
    assert "too many failed logins" in admin_login(Client(), "someone-else", "guess").content.decode()
    assert "too many failed logins" not in admin_login(Client(), "someone-else", "guess",
                                                       address="192.0.2.99").content.decode()


def test_every_authenticate_call_is_throttled(alice, settings):
    """What the console will call: Django's authenticate(), with or without a request."""
    settings.PAAS_LOGIN_MAX_FAILURES = 2
    assert authenticate(username="alice", password="guess") is None
    assert authenticate(username="alice", password="guess") is None
    with pytest.raises(TooManyRequests):
        authenticate(username="alice", password=PASSWORD)


def test_a_name_that_is_not_text_is_refused_without_a_lookup(alice, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert authenticate(username="al\0ice", password=PASSWORD) is None
        assert authenticate(username="\udc80", password=PASSWORD) is None
