"""Issue 10, item 10: every bad input answers 4xx with a message, and writes nothing.

Each row is a request a hostile user sent that answered 500 (or worse, reached
PostgreSQL or Redis) before; it goes to the live WSGI app through Django's test
client with a real token, against the real PostgreSQL and Redis. After each one,
every platform table and every Redis key of the test must be as before.
"""

import json

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model

from paas.platform.actions.teams import create_team
from paas.platform.api.body import MAX_BODY_BYTES, MAX_DEPTH
from paas.platform.redis_client import get_redis
from tests.platform.accounts import ApiClient
from tests.platform.test_events import deploy_code

# Each test's Redis keys its own (login counts, wake channels), as in tests/platform.
pytestmark = pytest.mark.usefixtures("own_redis_keys")

DEEP = 100_000


def raw_json(text: str) -> bytes:
    """A body with escapes json.dumps would not make (lone surrogates) written as they are sent."""
    return text.encode()


# (what, method, path, body: dict, bytes or None, expected status)
ROWS = [
    ("100k-deep JSON array", "post", "/api/apps", b"[" * DEEP + b"]" * DEEP, 400),
    ("100k-deep JSON object", "patch", "/api/apps/demo/config", b'{"a":' * DEEP + b"1" + b"}" * DEEP, 400),
    ("deep JSON just past the limit", "patch", "/api/apps/demo/formation",
     b'{"web":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", 400),
    ("body over 2.5 MB", "patch", "/api/apps/demo/config",
     json.dumps({"BIG": "x" * (3 * 1024 * 1024)}).encode(), 413),
    ("body just over the API's limit", "post", "/api/apps", b" " * (MAX_BODY_BYTES + 1), 413),
    ("lone surrogate in a config value", "patch", "/api/apps/demo/config", raw_json('{"KEY": "\\ud800"}'), 422),
    ("lone surrogate in a config key", "patch", "/api/apps/demo/config", raw_json('{"K\\udc00": "v"}'), 422),
    ("escape char in a config key", "patch", "/api/apps/demo/config", raw_json('{"K\\u001b": "v"}'), 422),
    ("NUL in a config value", "patch", "/api/apps/demo/config", {"KEY": "a\0b"}, 422),
    ("NaN in a body", "put", "/api/apps/demo/autoscale/web", b'{"min": 1, "max": 2, "target_rps": NaN}', 400),
    ("a 5000-digit integer", "patch", "/api/apps/demo/formation", b'{"web": {"quantity": ' + b"9" * 5000 + b"}}",
     400),
    ("a 20-digit quantity", "patch", "/api/apps/demo/formation", {"web": {"quantity": 10**20}}, 422),
    ("a 20-digit rollback version", "post", "/api/apps/demo/rollback", {"version": 10**20}, 422),
    ("a 20-digit token lifetime", "post", "/api/tokens", {"expires_in_days": 10**20}, 422),
    ("a 20-digit run time limit", "post", "/api/apps/demo/runs", {"command": "ls", "time_limit_s": 10**20}, 422),
    ("invalid UTF-8 body", "patch", "/api/apps/demo/config", b'{"KEY": "\xff\xfe"}', 400),
    ("NUL in a collaborator", "post", "/api/apps/demo/collaborators", {"user": "bob\0"}, 422),
    ("surrogate in a collaborator", "post", "/api/apps/demo/collaborators", raw_json('{"user": "\\udfff"}'), 422),
    ("NUL in a team name", "post", "/api/teams", {"name": "crew\0"}, 422),
    ("NUL in an app's team", "post", "/api/apps", {"name": "other", "team": "crew\0"}, 422),
    ("NUL in a team member", "post", "/api/teams/crew/members", {"user": "\0"}, 422),
    ("NUL in a token description", "post", "/api/tokens", {"description": "ci\0"}, 422),
    ("newline in a token description", "post", "/api/tokens", {"description": "ci\nfake log line"}, 422),
    ("surrogate in a token description", "post", "/api/tokens", raw_json('{"description": "\\ud83d"}'), 422),
    ("NUL in a run command", "post", "/api/apps/demo/runs", {"command": "echo a\0b"}, 422),
    ("NUL in a process type", "patch", "/api/apps/demo/formation", {"web\0": {"quantity": 1}}, 422),
    ("NUL in a health check path", "put", "/api/apps/demo/healthcheck", {"path": "/h\0"}, 422),
    ("NUL in a stack", "put", "/api/apps/demo/stack", {"stack": "host\0"}, 422),
    ("NUL in an app path segment", "get", "/api/apps/%00", None, 404),
    ("NUL in a destroyed app path", "delete", "/api/apps/%00?confirm=%00", None, 404),
    ("NUL in an app path with a body", "patch", "/api/apps/de%00mo/config", {"A": "b"}, 404),
    ("NUL in a run name", "get", "/api/apps/demo/runs/%00", None, 404),
    ("NUL in a run's output name", "get", "/api/apps/demo/runs/%00/output", None, 404),
    ("NUL in a team path segment", "post", "/api/teams/%00/members", {"user": "alice"}, 404),
    ("NUL in a team member path segment", "delete", "/api/teams/crew/members/%00", None, 404),
    ("NUL in a collaborator path segment", "delete", "/api/apps/demo/collaborators/%00", None, 404),
    ("NUL in a release version", "get", "/api/apps/demo/releases/%00", None, 404),
    ("a 20-digit release version", "get", "/api/apps/demo/releases/99999999999999999999", None, 422),
    ("a 20-digit token id", "delete", "/api/tokens/99999999999999999999", None, 404),
    ("NUL in a build id", "get", "/api/apps/demo/builds/%00", None, 404),
    ("NUL in an autoscaled process type", "put", "/api/apps/demo/autoscale/%00", {"min": 1, "max": 2}, 404),
    ("NUL in a domain path segment", "delete", "/api/apps/demo/domains/%00", None, 404),
    ("NUL in an image digest", "get", "/api/images/%00", None, 404),
    ("superscript digit as a limit", "get", "/api/events?limit=%C2%B2", None, 400),
    ("20-digit limit", "get", "/api/events?limit=99999999999999999999", None, 400),
    ("NUL in a query parameter", "get", "/api/apps/demo/usage?since=%00", None, 400),
    ("NUL in an app filter", "get", "/api/events?app=%00", None, 400),
    ("NUL in a confirmation", "delete", "/api/apps/demo?confirm=de%00mo", None, 400),
    ("Content-Length that is not a number", "post", "/api/apps", {"name": "x"}, 400),
]


def snapshot() -> dict:
    """Row counts of every table the platform owns, plus the test's Redis keys (and their values)."""
    counts = {model.__name__: model.objects.count() for model in django_apps.get_app_config("platform").get_models()}
    counts["users"] = get_user_model().objects.count()
    client = get_redis()
    from django.conf import settings

    keys = sorted(client.scan_iter(match=f"{settings.PAAS_REDIS_PREFIX}*", count=1000))
    counts["redis"] = {key: client.dump(key) for key in keys}
    return counts


@pytest.fixture
def world(alice, as_alice, settings, tmp_path):  # noqa: F811
    """alice's app "demo" with a deployed web process, and her team "crew" (files under the test's own data dir)."""
    settings.PAAS_DATA_DIR = tmp_path
    assert as_alice.post("/api/apps", {"name": "demo"}).status_code == 201
    deploy_code("demo")
    create_team(alice, "crew")
    return as_alice


@pytest.mark.parametrize("what,method,path,body,status", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_is_a_4xx_with_a_message_and_writes_nothing(world, what, method, path, body, status):
    before = snapshot()
    if what.startswith("Content-Length"):
        response = world.client.generic("POST", path, json.dumps(body), content_type="application/json",
                                        CONTENT_LENGTH="12abc", **world.headers)
        response.json_body = json.loads(response.content)
    elif isinstance(body, bytes):
        response = world.call(method, path, raw=body)
    else:
        response = world.call(method, path, body)
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json_body["message"], str) and response.json_body["message"]
    assert "Traceback" not in response.content.decode("utf-8", "replace")
    assert snapshot() == before


def test_login_with_a_bad_name_is_refused_before_any_lookup_or_count(world):
    anonymous = ApiClient(None)
    for body in (raw_json('{"username": "\\udc80", "password": "x"}'), json.dumps({"username": "al\0ice",
                                                                                     "password": "x"}).encode(),
                 raw_json('{"username": "alice", "password": "\\ud800"}')):
        before = snapshot()
        response = anonymous.post("/api/login", raw=body)
        assert response.status_code == 422, response.content
        assert response.json_body["message"]
        assert snapshot() == before


def test_messages_never_echo_the_offending_text(world):
    response = world.patch("/api/apps/demo/config", {"KEY": "secret-\0-value"})
    assert response.status_code == 422
    assert "secret" not in response.json_body["message"]
    assert "NUL" in response.json_body["message"]


def test_multiline_config_values_still_work(world):
    pem = "-----BEGIN KEY-----\nAAAA\tBBBB\r\n-----END KEY-----\n"
    response = world.patch("/api/apps/demo/config", {"TLS_KEY": pem})
    assert response.status_code == 200, response.json_body
    assert world.get("/api/apps/demo/config").json_body["TLS_KEY"] == pem


def test_deep_but_allowed_bodies_and_brackets_inside_strings_pass(world):
    value = "[" * 5000 + '\\"{' * 100  # brackets and escaped quotes in a string are not nesting
    response = world.patch("/api/apps/demo/config", {"BRACKETS": value})
    assert response.status_code == 200, response.json_body


def test_every_route_parameter_has_a_check():
    from paas.platform.api.params import PATH_CHECKS
    from paas.platform.api.routing import ROUTE_PARAM, Endpoint
    from paas.platform.api.urls import ENDPOINTS

    used = {name for endpoint in ENDPOINTS for name in ROUTE_PARAM.findall(endpoint.route)}
    assert used <= PATH_CHECKS.keys()
    with pytest.raises(LookupError, match="unchecked_thing"):
        Endpoint("things/<str:unchecked_thing>", {})


def test_admin_create_user_applies_the_password_validators(as_admin):  # noqa: F811
    weak = {
        "password": "short",  # minimum length
        "12345678901234": "numeric",
        "password1234": "common",
        "mallory-the-admin": "similar to the username",
    }
    for password in weak:
        before = snapshot()
        response = as_admin.post("/api/users", {"username": "mallory-the-admin", "email": "m@example.com",
                                                "password": password})
        assert response.status_code == 422, (password, response.json_body)
        assert response.json_body["message"]
        assert snapshot() == before
    created = as_admin.post("/api/users", {"username": "mallory", "password": "tangerine-cobalt-ostrich"})
    assert created.status_code == 201, created.json_body


def test_a_procfile_command_with_control_characters_is_served_as_data(world):
    """A Procfile is the tenant's: whatever command it holds (the build refuses NUL), the API shows it as data."""
    from tests.platform.test_api_releases import deploy_build

    release = deploy_build("demo", {"web": "serve \x1b[2J\x07 --x", "worker": "a\u0085b"})
    build = str(release.build.uuid)
    for path in (f"/api/apps/demo/builds/{build}", "/api/apps/demo/builds", "/api/apps/demo/releases",
                 f"/api/apps/demo/releases/v{release.version}", "/api/apps/demo/formation", "/api/apps/demo/events"):
        response = world.get(path)
        assert response.status_code == 200, (path, response.content[:300])
    assert world.get(f"/api/apps/demo/builds/{build}").json_body["process_types"]["web"] == "serve \x1b[2J\x07 --x"
    assert world.patch("/api/apps/demo/formation", {"worker": {"quantity": 1}}).status_code == 200
