"""Long polls against the real API server process (uvicorn + Django's ASGI handler, as `make up` runs it).

The attack: open many `paas logs --tail`-style follows so that the API's request threads are
all waiting and nobody else gets an answer. Replayed here: other endpoints still answer with
fifty follows open, a user past PAAS_MAX_FOLLOWS_PER_USER gets 429, a follow whose client
goes away gives its slot back, and malformed cursors and waits answer 400, not 500.
"""

import contextlib
import http.client
import threading
import json
import os
import socket
import uuid

import pytest
from django.conf import settings
from django.db import connection

from paas.platform import api_server
from paas.platform.actions.apps import create_app
from paas.platform.actions.tokens import issue_token
from paas.platform.logs import stream_key
from paas.platform.redis_client import get_redis
from tests.e2e.platform_procs import Processes, database_url, free_port, wait_for_port
from tests.platform.accounts import make_user
from tests.waiting import wait_for

CAP = 3


# libpq names the API server's connections with this (PGAPPNAME), so a test counts only those.
API_APP_NAME = f"paas-api-test-{os.getpid()}"


@contextlib.contextmanager
def api_process(tmp_path, settings, **extra_env):
    """The API server, two workers, on the test database with Redis keys of its own; yields its port."""
    prefix = f"lp{os.getpid()}-{uuid.uuid4().hex[:6]}:"
    settings.PAAS_REDIS_PREFIX = prefix
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "PGAPPNAME": API_APP_NAME,
           "REDIS_URL": settings.REDIS_URL, "PAAS_REDIS_PREFIX": prefix, "PAAS_MAX_FOLLOWS_PER_USER": str(CAP),
           "PAAS_DATA_DIR": str(tmp_path), "PYTHONSAFEPATH": "1", **extra_env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    procs = Processes(env, tmp_path)
    try:
        child = procs.start("api", api_server.argv("127.0.0.1", port, 2))
        wait_for_port(port, child, "the API server")
        yield port
    finally:
        procs.stop()
        print(procs.log("api")[-5000:])  # shown when a test fails
        keys = list(get_redis().scan_iter(f"{prefix}*"))
        if keys:
            get_redis().delete(*keys)


@pytest.fixture
def server(transactional_db, tmp_path, settings):
    with api_process(tmp_path, settings) as port:
        yield port


def user_with_app(name: str):
    user = make_user(name)
    _, secret = issue_token(user)
    app = create_app(user, f"{name}-app")
    return user, secret, app


class Follow:
    """One open long poll: the request is sent, the answer not yet read."""

    def __init__(self, port: int, token: str, path: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})

    def answer(self) -> tuple[int, dict]:
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())

    def close(self) -> None:
        # Close the socket outright: the server sees its client go away mid-wait.
        self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def get(port: int, token: str, path: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        conn.close()


def tail(app) -> str:
    """The cursor of the app's newest log line (creating an app writes two): a follow from there waits."""
    return get_redis().xrevrange(stream_key(app.name), count=1)[0][0].decode()


def open_slots(user) -> int:
    return get_redis().zcard(f"{settings.PAAS_REDIS_PREFIX}follows:user:{user.pk}")


def test_other_endpoints_answer_while_fifty_follows_are_open(server):
    users = [user_with_app(f"tail{i}") for i in range(17)]
    followers = [(secret, app) for _, secret, app in users for _ in range(CAP)][:50]
    follows = [Follow(server, secret, f"/api/apps/{app.name}/logs?after={tail(app)}&wait=25") for secret, app in followers]
    assert len(follows) == 50
    try:
        wait_for(lambda: sum(open_slots(user) for user, _, _ in users) == 50, 30, "fifty follows to be waiting")
        user, secret, app = users[0]
        status, body, _ = get(server, secret, "/api/apps")
        assert status == 200 and [a["name"] for a in body] == [app.name]
        status, body, _ = get(server, secret, f"/api/apps/{app.name}/logs?lines=5")
        assert status == 200 and [row["line"] for row in body["lines"]][0].startswith("created app")
        # The follows are still waiting (nothing was written), and a line wakes one at once.
        assert sum(open_slots(user) for user, _, _ in users) == 50
        get_redis().xadd(stream_key(app.name), {"line": "hello", "source": "app", "process": "web.1"})
        status, body = follows[0].answer()
        assert status == 200 and [row["line"] for row in body["lines"]] == ["hello"]
    finally:
        for follow in follows:
            follow.close()
    wait_for(lambda: sum(open_slots(user) for user, _, _ in users) == 0, 30, "every slot to be given back")


def test_follows_past_the_cap_get_429_and_a_gone_client_gives_its_slot_back(server):
    alice, alice_token, alice_app = user_with_app("alice")
    _, bob_token, bob_app = user_with_app("bob")
    cursor = tail(alice_app)
    follows = [Follow(server, alice_token, f"/api/apps/{alice_app.name}/logs?after={cursor}&wait=25")
               for _ in range(CAP)]
    try:
        wait_for(lambda: open_slots(alice) == CAP, 30, "alice's follows to be waiting")
        status, body, headers = get(server, alice_token, f"/api/apps/{alice_app.name}/logs?after={cursor}&wait=1")
        assert status == 429 and body["error"] == "too_many_requests"
        assert f"already have {CAP} waiting requests open (log follows, run attachments, domain checks" in (
            body["message"])
        assert int(headers["Retry-After"]) > 0
        # Another user is not affected by alice's follows.
        bob_cursor = tail(bob_app)
        status, body, _ = get(server, bob_token, f"/api/apps/{bob_app.name}/logs?after={bob_cursor}&wait=1")
        assert status == 200 and body == {"lines": [], "cursor": bob_cursor}
        # Reading without waiting takes no slot.
        status, _, _ = get(server, alice_token, f"/api/apps/{alice_app.name}/logs?after=0-0&wait=0")
        assert status == 200
        # One client goes away mid-wait: its slot comes back without waiting for the poll's end.
        follows.pop().close()
        wait_for(lambda: open_slots(alice) == CAP - 1, 20, "the gone client's slot to be given back")
        status, _, _ = get(server, alice_token, f"/api/apps/{alice_app.name}/logs?after={cursor}&wait=1")
        assert status == 200
    finally:
        for follow in follows:
            follow.close()


@pytest.mark.parametrize("query", [
    "after=99999999999999999999-1&wait=1",   # above Redis's 64-bit stream ids
    "after=18446744073709551616-0",
    "after=1-0&wait=%C2%B2",                 # "²": str.isdigit() says yes, int() says no
    "after=1-0&wait=26",
    "after=1-0&wait=-1",
    "after=1-0&wait=" + "9" * 5000,          # past int()'s digit limit
    "after=%D9%A1-0",                        # an Arabic-Indic digit
    "after=1-0%00",
    "after=garbage",
])
def test_bad_cursors_and_waits_answer_400(server, query):
    _, token, app = user_with_app("carol")
    for path in (f"/api/apps/{app.name}/logs", f"/api/apps/{app.name}/runs/{app.name}-run-1/output"):
        status, body, _ = get(server, token, f"{path}?{query}")
        assert status == 400, (path, body)
        assert body["error"] == "bad_request" and ("after" in body["message"] or "wait" in body["message"]), body


def test_run_output_waits_for_output_and_counts_against_the_same_cap(server):
    from paas.platform.models import Instance
    from paas.platform.runio import run_keys

    dave, token, app = user_with_app("dave")
    # A run as start_run records it (its instance need not start: the output stream is what is read).
    run = Instance.objects.create(name=f"{app.name}-run-1", app=app, release=app.latest_release(), process_type="run",
                                  number=1, command="bash", size="small", memory_mb=256, cpus=0.25,
                                  kind=Instance.ONEOFF, attach="pipe")
    output = f"/api/apps/{app.name}/runs/{run.name}/output"
    cursor = tail(app)
    follows = [Follow(server, token, f"/api/apps/{app.name}/logs?after={cursor}&wait=25") for _ in range(CAP)]
    try:
        wait_for(lambda: open_slots(dave) == CAP, 30, "dave's log follows to be waiting")
        status, body, _ = get(server, token, f"{output}?after=0-0&wait=5")
        assert status == 429 and "waiting requests open" in body["message"]
        follows.pop().close()
        wait_for(lambda: open_slots(dave) == CAP - 1, 20, "the closed follow's slot to come back")
        attach = Follow(server, token, f"{output}?after=0-0&wait=25")
        wait_for(lambda: open_slots(dave) == CAP, 20, "the run's output follow to be waiting")
        get_redis().xadd(run_keys(run.name)[1], {"data": "aGVsbG8="})
        status, body = attach.answer()
        assert status == 200 and body["chunks"] == ["aGVsbG8="] and body["eof"] is False
        assert body["name"] == run.name and body["finished"] is False
    finally:
        for follow in follows:
            follow.close()


def test_a_follow_without_redis_answers_503_not_500(transactional_db, settings):
    from tests.platform.accounts import client_for

    user, _, app = user_with_app("erin")
    client = client_for(user)
    with socket.socket() as closed:  # a port with nothing listening
        closed.bind(("127.0.0.1", 0))
        settings.REDIS_URL = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        response = client.get(f"/api/apps/{app.name}/logs?after=1-0&wait=1")
    assert response.status_code == 503 and "try again" in response.json_body["message"]


def test_a_burst_of_slow_requests_queues_instead_of_opening_a_database_connection_each(
        transactional_db, tmp_path, settings):
    """Each request outside the long polls runs on a thread with a PostgreSQL connection: at most
    PAAS_API_THREADS of them per worker at once, the rest wait their turn and are answered."""
    import psycopg2

    with api_process(tmp_path, settings, PAAS_API_THREADS="2") as port:
        user, token, app = user_with_app("frank")
        # Hold the app's row lock from outside: every config change waits for it inside Django.
        holder = psycopg2.connect(database_url(connection.settings_dict))
        answers, peak = [], 0
        try:
            with holder.cursor() as cursor:
                cursor.execute("SELECT id FROM platform_app WHERE id = %s FOR UPDATE", [app.pk])

            def set_config(number: int):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("PATCH", f"/api/apps/{app.name}/config", body=json.dumps({f"K{number}": "v"}),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                answers.append(conn.getresponse().status)
                conn.close()

            burst = [threading.Thread(target=set_config, args=(n,)) for n in range(12)]
            for thread in burst:
                thread.start()

            def blocked_on_the_lock() -> int:
                with connection.cursor() as cursor:
                    # Only the API server's connections: the e2e platform's processes may share this database.
                    cursor.execute("SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) "
                                   "FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND application_name = %s", [API_APP_NAME])
                    blocked, connections = cursor.fetchone()
                nonlocal peak
                peak = max(peak, connections)
                return blocked

            # Some threads are stuck on the lock with their connections; twelve requests are in.
            wait_for(lambda: blocked_on_the_lock() >= 2, 30, "requests to wait on the app's lock")
            for _ in range(50):  # while the lock is held, no thread or connection is added for the rest
                blocked_on_the_lock()
        finally:
            holder.rollback()
            holder.close()
        for thread in burst:
            thread.join(timeout=60)
    assert sorted(answers) == [200] * 12  # every one answered once the lock went, none refused
    assert 2 <= peak <= 4, f"{peak} database connections at once from 2 workers x 2 threads"


def test_domain_checks_wait_off_the_threads_and_share_the_cap(transactional_db, tmp_path, settings):
    """A DNS server that never answers (the claimant's own, say) must not hold the API's threads."""
    from paas.platform.models import Domain

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        env = {"PAAS_API_THREADS": "1", "PAAS_DNS_RESOLVERS": f"127.0.0.1:{silent.getsockname()[1]}",
               "PAAS_DNS_TIMEOUT_S": "20"}
        with api_process(tmp_path, settings, **env) as port:
            grace, token, app = user_with_app("grace")
            for n in range(CAP + 1):
                Domain.objects.create(app=app, hostname=f"d{n}.grace.example")
            checks = []
            try:
                for n in range(CAP):
                    check = Follow.__new__(Follow)
                    check.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    check.conn.request("POST", f"/api/apps/{app.name}/domains/d{n}.grace.example/verify",
                                       headers={"Authorization": f"Bearer {token}"})
                    checks.append(check)
                wait_for(lambda: open_slots(grace) == CAP, 30, "the domain checks to be waiting on DNS")
                status, body, _ = get(port, token, "/api/apps")
                assert status == 200 and [a["name"] for a in body] == [app.name]
                assert open_slots(grace) == CAP  # answered while every check still waits
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", f"/api/apps/{app.name}/domains/d{CAP}.grace.example/verify",
                             headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                assert response.status == 429 and "domain checks" in json.loads(response.read())["message"]
                conn.close()
            finally:
                for check in checks:
                    check.close()


def test_a_slug_is_streamed_by_the_asgi_server_not_read_into_memory_whole(transactional_db, tmp_path, settings):
    import hashlib
    import io
    import tarfile

    from paas.platform.actions.tokens import issue_token
    from paas.runtime import images

    runtime = tmp_path / "runtime"
    os.environ["PAAS_RUNTIME_DIR"] = str(runtime)
    try:
        slug = tmp_path / "slug.tar"
        with tarfile.open(slug, "w") as tar:
            payload = os.urandom(3 * 1024 * 1024)
            info = tarfile.TarInfo("blob")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        image = images.put(slug)
        with api_process(tmp_path, settings, PAAS_RUNTIME_DIR=str(runtime)) as port:
            admin = make_user("host-admin")
            admin.is_staff = True
            admin.save()
            _, token = issue_token(admin)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", f"/api/images/{image.digest}", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            assert response.status == 200
            assert hashlib.sha256(body).digest() == hashlib.sha256(slug.read_bytes()).digest()
            log = tmp_path / "api.log"
        # Django warns when it reads a whole synchronous iterator into memory to serve it.
        assert "must consume synchronous iterators" not in log.read_text()
    finally:
        os.environ.pop("PAAS_RUNTIME_DIR", None)
