"""Per-app HTTPS redirect, HSTS and ACME HTTP-01 answers, against the real router and Redis."""

import json
import socket
import ssl

import pytest
from router_backends import EchoBackend
from router_helpers import backend, read_until_closed

from paas.pki import authority, challenges
from paas.router.protocol import framing as framing_mod
from paas.router.protocol import redirect
from paas.router.table.routes import BadEntry, parse_app_entry

TOKEN = "tok_" + "A" * 39
ANSWER = TOKEN + "." + "t" * 43


@pytest.fixture
def echo(cleanup):
    server = EchoBackend()
    cleanup(server)
    return server


def _exchange(port, raw: bytes, ctx=None, host="demo.localhost") -> tuple[bytes, dict, bytes]:
    """Send ``raw`` (its last request says Connection: close); every response's status lines, the
    last one's headers, and its body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        s = ctx.wrap_socket(sock, server_hostname=host) if ctx else sock
        s.sendall(raw)
        out = read_until_closed(s)
    last = out[out.rindex(b"HTTP/1.1 "):]
    head, _, body = last.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    return lines[0], headers, body


def _get(path, host="demo.localhost", method="GET", body=b""):
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return (b"%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (method.encode(), path.encode(),
                                                                              host.encode(), length)) + body


def _tls(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(authority.ca_pem())
    return ssl.create_default_context(cafile=str(ca))


# --- the deciding logic ------------------------------------------------------

def _framing(host: bytes, target: bytes):
    f = framing_mod.Framing(target=target)
    f.host = host
    return f


@pytest.mark.parametrize("host,target,port,expected", [
    (b"demo.localhost:8080", b"/a?b=c", 8443, b"https://demo.localhost:8443/a?b=c"),
    (b"www.example.com", b"/", 443, b"https://www.example.com/"),
    (b"[::1]:8080", b"/x", 8443, b"https://[::1]:8443/x"),
    (b"demo.localhost", b"*", 8443, b"https://demo.localhost:8443/"),
])
def test_redirect_location_keeps_host_and_target_on_the_tls_port(host, target, port, expected):
    assert redirect.location(_framing(host, target), port) == expected


def test_redirect_status_keeps_unsafe_methods():
    assert [redirect.status_for(m) for m in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE")] == [301, 301, 308, 308, 308]


@pytest.mark.parametrize("target,token", [
    (b"/.well-known/acme-challenge/" + TOKEN.encode(), TOKEN),
    (b"/.well-known/acme-challenge/" + TOKEN.encode() + b"?x=1", TOKEN),
    (b"/.well-known/acme-challenge/../../etc/passwd", None),
    (b"/.well-known/acme-challenge/%2e%2e%2fsecret", None),
    (b"/.well-known/acme-challenge/" + TOKEN.encode() + b"/more", None),
    (b"/.well-known/acme-challenge/" + b"A" * 129, None),   # oversized
    (b"/.well-known/acme-challenge/short", None),
    (b"/.well-known/acme-challenge/\xff" + b"A" * 20, None),
    (b"/other/" + TOKEN.encode(), None),
])
def test_challenge_tokens_are_base64url_only(target, token):
    assert challenges.token_in_path(target) == token


def test_key_authorization_must_be_for_its_token_and_bounded():
    assert challenges.valid_key_authorization(TOKEN, ANSWER)
    assert not challenges.valid_key_authorization("tok_" + "B" * 39, ANSWER)
    assert not challenges.valid_key_authorization(TOKEN, ANSWER + "x" * 200)
    assert not challenges.valid_key_authorization(TOKEN, TOKEN + ".thumb\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        challenges.field("demo.localhost", "../x")


def test_route_entry_https_fields():
    route = parse_app_entry(json.dumps({"app": "a", "https_redirect": True, "hsts_max_age": 300}))
    assert route.https_redirect and route.hsts == b"max-age=300"
    plain = parse_app_entry(json.dumps({"app": "a"}))
    assert not plain.https_redirect and plain.hsts is None
    for bad in (-1, "300", 1.5, True):
        with pytest.raises(BadEntry):
            parse_app_entry(json.dumps({"app": "a", "hsts_max_age": bad}))


# --- the router ----------------------------------------------------------------

def test_plain_requests_are_redirected_to_the_tls_port(make_tls_router, routes, echo):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)], https_redirect=True)
    status, headers, _ = _exchange(router.port, _get("/a/b?c=d"))
    assert status == b"HTTP/1.1 301 Moved Permanently"
    assert headers["location"] == f"https://demo.localhost:{router.tls_port}/a/b?c=d"
    status, headers, _ = _exchange(router.port, _get("/form", method="POST", body=b"x=1"))
    assert status == b"HTTP/1.1 308 Permanent Redirect"
    assert headers["location"] == f"https://demo.localhost:{router.tls_port}/form"
    # Kept-alive GETs (the fast path's candidates) are redirected too, and the app saw none of it.
    status, _, _ = _exchange(router.port, b"GET /1 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" + _get("/2"))
    assert status.startswith(b"HTTP/1.1 301") and echo.requests == []


def test_tls_requests_reach_the_app_with_the_platforms_hsts(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)], https_redirect=True, hsts_max_age=31536000)
    ctx = _tls(tmp_path)
    # Two requests on one connection: the second goes on the fast path (a pooled connection).
    raw = b"GET /?sts=max-age=5 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" + _get("/?sts=max-age=5")
    for _ in range(2):
        status, headers, body = _exchange(router.tls_port, raw, ctx)
        assert status == b"HTTP/1.1 200 OK"
        # The app's own header is replaced, not doubled.
        assert headers["strict-transport-security"] == "max-age=31536000"
        assert json.loads(body)["path"] == "/?sts=max-age=5"
    # HSTS is never sent over plain HTTP (RFC 6797 8.1: browsers ignore it there).
    routes.set_app("demo", [backend(echo.port)], hsts_max_age=600)
    status, headers, _ = _exchange(router.port, _get("/"))
    assert status == b"HTTP/1.1 200 OK" and "strict-transport-security" not in headers
    status, headers, _ = _exchange(router.tls_port, _get("/"), ctx)
    assert headers["strict-transport-security"] == "max-age=600"


def test_acme_challenges_are_answered_by_host_and_never_redirected(make_tls_router, routes, echo, redis_client,
                                                                   prefix):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)], https_redirect=True, hosts=["demo.localhost"])
    routes.set_app("other", [backend(echo.port)], hosts=["other.localhost"])
    key = f"{prefix}acme:challenges"
    redis_client.hset(key, challenges.field("demo.localhost", TOKEN), ANSWER)
    path = f"/.well-known/acme-challenge/{TOKEN}"
    status, headers, body = _exchange(router.port, _get(path))
    assert status == b"HTTP/1.1 200 OK" and body == ANSWER.encode()
    assert headers["content-type"] == "application/octet-stream"
    # Another app's host does not get demo's answer: its app answers for itself.
    status, _, body = _exchange(router.port, _get(path, host="other.localhost"))
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["path"] == path
    # No answer pending: not redirected either, the app sees it.
    status, _, body = _exchange(router.port, _get("/.well-known/acme-challenge/" + "Z" * 43))
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == "echo"
    # A traversal is no token: no lookup, and the redirect does not apply to the challenge path.
    status, _, body = _exchange(router.port, _get("/.well-known/acme-challenge/../../" + TOKEN))
    assert ANSWER.encode() not in body


def test_malformed_or_oversized_answers_in_redis_are_not_served(make_tls_router, routes, echo, redis_client,
                                                                prefix):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    key = f"{prefix}acme:challenges"
    path = f"/.well-known/acme-challenge/{TOKEN}"
    for value in (ANSWER + "x" * 10_000, "<script>", "other_" + "A" * 37 + ".thumbprint_thumbprint"):
        redis_client.hset(key, challenges.field("demo.localhost", TOKEN), value)
        status, _, body = _exchange(router.port, _get(path))
        assert json.loads(body)["path"] == path   # went to the app, not answered from Redis


# --- the platform's own endpoints at paas.<base> ------------------------------------

def test_is_git_matches_smart_http_paths_only():
    from paas.router.table.routes import is_git

    assert is_git(b"/shop.git/info/refs?service=git-receive-pack") and is_git(b"/shop.git/git-receive-pack")
    assert is_git(b"/shop.git")
    assert not is_git(b"/api/apps/shop.git") and not is_git(b"/console/") and not is_git(b"/x.gitfoo")


def test_platform_host_reaches_api_and_git_over_tls_only(prefix, routes, cleanup, tmp_path, monkeypatch):
    from router_helpers import RunningRouter, router_settings

    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path / "data"))
    api, git, evil = EchoBackend("api"), EchoBackend("git"), EchoBackend("evil")
    for server in (api, git, evil):
        cleanup(server)
    settings = router_settings(prefix)
    settings.tls_port = 0
    settings.platform_api, settings.platform_git = ("127.0.0.1", api.port), ("127.0.0.1", git.port)
    settings.limits.body = 1000   # apps' bodies; the platform's servers hold bodies to limits of their own
    router = RunningRouter(settings)
    cleanup(router)
    routes.router = router
    # Neither an entry named paas nor a hosts field for paas.localhost in Redis takes the platform's place.
    routes.set_app("paas", [backend(evil.port)], hosts=["paas.localhost"], wait=False)
    routes.set_app("evil", [backend(evil.port)], hosts=["paas.localhost"])
    ctx = _tls(tmp_path)
    for path, name in (("/api/account", "api"), ("/console/", "api"), ("/shop.git/info/refs?service=git-upload-pack",
                                                                       "git")):
        status, _, body = _exchange(router.tls_port, _get(path, host="paas.localhost"), ctx, host="paas.localhost")
        assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == name, path
    status, headers, _ = _exchange(router.port, _get("/api/login", host="paas.localhost", method="POST",
                                                     body=b'{"password": "x"}'))
    assert status.startswith(b"HTTP/1.1 308")
    assert headers["location"] == f"https://paas.localhost:{router.tls_port}/api/login"
    assert api.requests == [("GET", "/api/account", api.requests[0][2]), ("GET", "/console/", api.requests[1][2])]
    # A push larger than an app's body limit reaches the git receiver (it holds pushes to PAAS_MAX_PUSH_BYTES).
    push = _get("/shop.git/git-receive-pack", host="paas.localhost", method="POST", body=b"P" * 5000)
    status, _, body = _exchange(router.tls_port, push, ctx, host="paas.localhost")
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["name"] == "git"
    status, _, _ = _exchange(router.tls_port, _get("/", host="evil.localhost", method="POST", body=b"P" * 5000), ctx,
                             host="evil.localhost")
    assert status.startswith(b"HTTP/1.1 413")
    # ... and may answer later than the apps' first-byte timeout (2 s here): it indexes the pack first.
    push = _get("/shop.git/git-receive-pack?sleep=3", host="paas.localhost", method="POST", body=b"P")
    assert _exchange(router.tls_port, push, ctx, host="paas.localhost")[0] == b"HTTP/1.1 200 OK"
    assert evil.requests == []   # nothing of the platform's reached the app that claimed its host
    slow_app = _get("/?sleep=3", host="evil.localhost", method="POST", body=b"P")   # an app gets the router's 2 s
    assert _exchange(router.tls_port, slow_app, ctx, host="evil.localhost")[0].startswith(b"HTTP/1.1 504")


@pytest.mark.parametrize("value, expected", [
    ("", ("127.0.0.1", 8000)), ("off", None), ("10.0.0.5:9000", ("10.0.0.5", 9000)), ("[::1]:8000", ("::1", 8000)),
])
def test_platform_upstream_settings(monkeypatch, value, expected):
    from paas.router.config import Settings

    monkeypatch.delenv("PAAS_API_PORT", raising=False)
    monkeypatch.setenv("PAAS_ROUTER_PLATFORM_API", value)
    assert Settings.from_env().platform_api == expected


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.1:http", ":8000", "127.0.0.1:70000"])
def test_bad_platform_upstreams_stop_the_router_naming_the_variable(monkeypatch, value):
    from paas.router.config import SettingError, Settings

    monkeypatch.setenv("PAAS_ROUTER_PLATFORM_GIT", value)
    with pytest.raises(SettingError, match="PAAS_ROUTER_PLATFORM_GIT"):
        Settings.from_env()
