"""`make up` end to end: private PostgreSQL and Redis, gunicorn, first-start credentials,
the CLI flow of the README, and Ctrl-C leaving no process behind."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import redis

from tests.compose.private import old_trust_cluster
from tests.waiting import wait_for

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_mentioning(text: str) -> list[str]:
    """Processes whose command line, environment or working directory names ``text`` (every child
    of make up has PAAS_DATA_DIR in its environment; redis-server rewrites its command line and
    environment with its title, but runs in <data dir>/redis)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if text in cmdline or f"={text}" in environ or f"={text}\0" in environ or cwd.startswith(text):
            found.append(f"{proc.name} {cmdline}")
    return found


@pytest.fixture
def data_dir():
    # PostgreSQL runs as the postgres user when we are root: it must be able to enter the directory.
    path = Path(tempfile.mkdtemp(prefix="paas-up-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)])


def make_up_env(data_dir: Path, api_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        PAAS_DATA_DIR=str(data_dir),
        PAAS_API_PORT=str(api_port),
        PAAS_GIT_PORT=str(free_port()),
        PAAS_PG_PORT=str(free_port()),
        PAAS_REDIS_PORT=str(free_port()),
        PAAS_ROUTER_PORT=str(free_port()),
        PAAS_ROUTER_ADMIN_PORT=str(free_port()),
        PAAS_ROUTER_TLS_PORT=str(free_port()),  # 8443 may be another make up's (a session's, a benchmark's)
        PAAS_HOST_NAME=f"make-up-test-{os.getpid()}",
        PAAS_BUILD_STACKS="",  # building the Debian stack takes minutes and the mirror: not in tests
        # One ingest worker process beside paas-logs, handing batches to its port (8002 may be another's).
        PAAS_LOG_INGEST_WORKERS="1",
        PAAS_LOG_INGEST_BIND=f"127.0.0.1:{free_port()}",
    )
    return env


@contextmanager
def make_up(data_dir: Path):
    """``make up`` on ``data_dir`` until the block ends; yields (process, banner, API URL)."""
    api_port = free_port()
    log = open(data_dir / "up.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "paas.compose.up"], cwd=CHECKOUT, env=make_up_env(data_dir, api_port),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        try:
            banner = wait_for(lambda: "Ctrl-C" in read(data_dir) and read(data_dir), 120, "make up banner")
        except AssertionError as error:
            raise AssertionError(f"{error}; make up printed:\n{read(data_dir)[-4000:]}") from None
        yield process, banner, f"http://127.0.0.1:{api_port}"
    finally:
        # Ctrl-C first, as a user stops it: that path also stops the apps' instances (their
        # network namespaces and cgroups), which SIGKILL would leave behind.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for line in processes_mentioning(str(data_dir)):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


@pytest.fixture
def platform_up(data_dir):
    with make_up(data_dir) as running:
        yield running


def read(data_dir: Path) -> str:
    return (data_dir / "up.log").read_text()


def paas(home: Path, api: str, *args, input=None):
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "PAAS_API_URL": api}
    return subprocess.run([str(BIN / "paas"), *args], capture_output=True, text=True, input=input, env=env,
                          cwd=home, timeout=60)


def test_make_up_serves_the_readme_flow_and_ctrl_c_stops_everything(platform_up, data_dir, tmp_path):
    process, banner, api = platform_up
    password = re.search(r"password: (\S+)", banner).group(1)
    token_file = data_dir / "admin-token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert processes_mentioning(str(data_dir / "postgres")), "no private PostgreSQL"

    login = paas(tmp_path, api, "login", "--api", api, input=f"admin\n{password}\n")
    assert login.returncode == 0, login.stderr
    assert paas(tmp_path, api, "apps:create", "demo").returncode == 0
    assert paas(tmp_path, api, "config:set", "-a", "demo", "A=1").returncode == 0
    releases = paas(tmp_path, api, "releases", "-a", "demo").stdout
    assert "v1" in releases and "v2" in releases
    rollback = paas(tmp_path, api, "rollback", "-a", "demo", "v1")
    assert rollback.returncode == 0 and "v3" in rollback.stdout
    token = token_file.read_text().strip()
    assert paas(tmp_path, api, "whoami").returncode == 0
    with_token = subprocess.run(["curl", "-sf", "-H", f"Authorization: Bearer {token}", f"{api}/api/apps"],
                                capture_output=True, text=True)
    assert '"demo"' in with_token.stdout
    git_port = re.search(r"Git: +http://127.0.0.1:(\d+)/", banner).group(1)
    refs = subprocess.run(["curl", "-sf", "-u", f"x:{token}",
                           f"http://127.0.0.1:{git_port}/demo.git/info/refs?service=git-upload-pack"],
                          capture_output=True, text=True)
    assert "# service=git-upload-pack" in refs.stdout
    router_port = re.search(r"Apps: +http://<app>.localhost:(\d+)/", banner).group(1)
    unknown = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nope.localhost",
                              f"http://127.0.0.1:{router_port}/"], capture_output=True, text=True)
    assert unknown.stdout == "404"
    admin_page = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{api}/admin/login/"],
                                capture_output=True, text=True)
    assert admin_page.stdout == "200"
    # The console, from the same server, its stylesheet through whitenoise (collected at start).
    console = subprocess.run(["curl", "-sf", f"{api}/console/login/"], capture_output=True, text=True)
    assert "Log in to paas" in console.stdout
    stylesheet = re.search(r'href="(/static/console/console[^"]*\.css)"', console.stdout).group(1)
    css = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{api}{stylesheet}"],
                         capture_output=True, text=True)
    assert css.stdout == "200"

    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert processes_mentioning(str(data_dir)) == []
    assert "stopped" in read(data_dir)


def test_second_start_does_not_print_a_password_again(platform_up, data_dir):
    process, banner, _ = platform_up
    assert "password:" in banner
    passwords = secrets_of(data_dir)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    (data_dir / "up.log").write_text("")
    with make_up(data_dir) as (again, banner, api):
        assert "password:" not in banner and "admin-token" in banner
        assert secrets_of(data_dir) == passwords
        token = (data_dir / "admin-token").read_text().strip()
        wait_for(lambda: curl_api(api, token).startswith("["), 60, "the API answering with the kept token")
        os.killpg(again.pid, signal.SIGINT)
        again.wait(timeout=60)
    assert processes_mentioning(str(data_dir)) == []


def secrets_of(data_dir: Path) -> dict[str, str]:
    return {path.name: path.read_text().strip() for path in (data_dir / "credentials").iterdir()}


def curl_api(api: str, token: str) -> str:
    return subprocess.run(["curl", "-sf", "-H", f"Authorization: Bearer {token}", f"{api}/api/apps"],
                          capture_output=True, text=True).stdout


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item)


def programs_of(data_dir: Path) -> dict[str, dict]:
    """The environment of each platform program make up started, by the program's name."""
    names = {"paas-router": "router", "paas-agent": "agent", "paas-control": "control",
             "paas-logs-ingest": "logs-ingest", "paas-logs": "logs",
             "paas.platform.asgi": "api", "paas.platform.git.wsgi": "git", "builds@": "builds",
             "backups@": "backups"}
    found = {}
    for line in processes_mentioning(str(data_dir)):
        pid, cmdline = line.split(" ", 1)
        for marker, name in names.items():
            if marker in cmdline:     # the first marker only: "paas-logs" is in "paas-logs-ingest" too
                if name not in found:
                    try:
                        found[name] = environment_of(int(pid))
                    except OSError:
                        pass
                break
    return found


def test_each_program_holds_only_its_own_credentials(platform_up, data_dir):
    process, banner, api = platform_up
    credentials = data_dir / "credentials"
    assert oct(credentials.stat().st_mode & 0o777) == "0o700"
    passwords = secrets_of(data_dir)
    assert sorted(passwords) == ["logcenter-ingest", "postgres-paas", "postgres-superuser", "redis-admin",
                                 "redis-agent", "redis-logcenter", "redis-platform", "redis-router"]
    for path in credentials.iterdir():
        assert oct(path.stat().st_mode & 0o777) == "0o600", path

    # No password on any command line of the machine (argv is world-readable in /proc).
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert not any(password in cmdline for password in passwords.values()), proc.name

    programs = wait_for(lambda: (found := programs_of(data_dir)) and {"api", "git", "builds", "backups", "control",
                                                                           "router", "logs", "logs-ingest"}
                        <= set(found) and found,
                        30, "the platform's programs")
    for name in ("api", "git", "builds", "backups", "control"):
        env = programs[name]
        assert urlsplit(env["DATABASE_URL"]).username == "paas", name
        assert urlsplit(env["DATABASE_URL"]).password == passwords["postgres-paas"], name
        assert urlsplit(env["REDIS_URL"]).username == "platform", name
    router = programs["router"]
    assert "DATABASE_URL" not in router
    assert urlsplit(router["REDIS_URL"]).username == "router"
    assert "DATABASE_URL" not in programs["logs"]
    assert urlsplit(programs["logs"]["REDIS_URL"]).username == "logcenter"
    assert "DATABASE_URL" not in programs["logs-ingest"]
    assert urlsplit(programs["logs-ingest"]["REDIS_URL"]).username == "logcenter"
    # The token ingest workers hand batches to paas-logs with: the Log Center's alone.
    assert programs["logs"]["PAAS_LOG_INGEST_TOKEN"] == passwords["logcenter-ingest"]
    assert sorted(name for name, env in programs.items()
                  if passwords["logcenter-ingest"] in "\0".join(env.values())) == ["logs", "logs-ingest"]
    if "agent" in programs:
        assert urlsplit(programs["agent"]["REDIS_URL"]).username == "agent"
        assert urlsplit(programs["agent"]["DATABASE_URL"]).username == "paas"
    for env in programs.values():
        assert not any(passwords[secret] in "\0".join(env.values())
                       for secret in ("postgres-superuser", "redis-admin")), "a set-up password reached a program"

    # Every connection of the platform to its database is the platform role's.
    token = (data_dir / "admin-token").read_text().strip()
    wait_for(lambda: curl_api(api, token).startswith("["), 60, "the API reading the database")
    port = urlsplit(programs["api"]["DATABASE_URL"]).port
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=passwords["postgres-superuser"],
                            dbname="postgres", connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            def users() -> list[str]:
                cur.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'paas' "
                            "AND backend_type = 'client backend'")
                return [row[0] for row in cur.fetchall()]
            assert wait_for(users, 30, "the platform's database connections") == ["paas"]
    finally:
        conn.close()


def test_a_data_dir_of_an_older_make_up_is_upgraded_in_place(data_dir):
    # As make up ran before passwords: a trust cluster, migrated and bootstrapped as the superuser.
    port = free_port()
    with old_trust_cluster(data_dir, port):
        env = {**make_up_env(data_dir, free_port()), "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/paas",
               "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), "PYTHONSAFEPATH": "1"}
        for args in (["migrate", "--no-input", "-v", "0"], ["bootstrap"]):
            result = subprocess.run([str(BIN / "paas-admin"), *args], env=env, cwd=data_dir, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, result.stderr
    token = (data_dir / "admin-token").read_text().strip()

    with make_up(data_dir) as (process, banner, api):
        assert "password:" not in banner  # the same admin, kept
        wait_for(lambda: curl_api(api, token).startswith("["), 60, "the API answering with the kept token")
        passwords = secrets_of(data_dir)
        api_env = wait_for(lambda: programs_of(data_dir).get("api"), 30, "the API's environment")
        conn = psycopg2.connect(host="127.0.0.1", port=urlsplit(api_env["DATABASE_URL"]).port, user="postgres",
                                password=passwords["postgres-superuser"], dbname="paas", connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
                assert [row[0] for row in cur.fetchall()] == ["paas"]
        finally:
            conn.close()
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0


def test_make_test_runs_on_private_servers(data_dir):
    """make test's private path (what runs when no PostgreSQL or Redis answers at the standard ports)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(PAAS_TEST_SERVICES="private", PAAS_TEST_DATA_DIR=str(data_dir),
               PAAS_PG_PORT=str(free_port()), PAAS_REDIS_PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-P", "-m", "paas.compose.testrun", "tests/platform/test_api_auth.py",
                             "-q", "-p", "no:cacheprovider", "-k", "login"],
                            cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert (data_dir / "credentials" / "postgres-superuser").exists()
    assert processes_mentioning(str(data_dir)) == []


PROCFILE_APP = {
    "Procfile": "web: ./serve.sh\n",
    "serve.sh": "#!/bin/sh\necho serving on $PORT\nexec python3 -m http.server \"$PORT\"\n",
}


def test_a_push_deploys_through_every_component_with_its_own_redis_user(platform_up, data_dir, tmp_path):
    """git push -> build worker -> control loop -> agent -> router, each with its own credentials,
    and not one command refused by Redis's ACLs along the way."""
    process, banner, api = platform_up
    api_env = wait_for(lambda: programs_of(data_dir).get("api"), 30, "the API's environment")
    admin_redis = redis.Redis(host="127.0.0.1", port=urlsplit(api_env["REDIS_URL"]).port, username="admin",
                              password=secrets_of(data_dir)["redis-admin"], socket_timeout=10)
    # The private Redis started with make up: its ACL log covers every process since.
    token = (data_dir / "admin-token").read_text().strip()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine 127.0.0.1 login admin password {token}\n")
    (home / ".netrc").chmod(0o600)
    wait_for(lambda: curl_api(api, token).startswith("["), 60, "the API answering")
    assert subprocess.run(["curl", "-sf", "-H", f"Authorization: Bearer {token}", "-H",
                           "Content-Type: application/json", "-d", '{"name": "acldemo"}', f"{api}/api/apps"],
                          capture_output=True, text=True).returncode == 0
    repo = tmp_path / "src"
    repo.mkdir()
    for name, text in PROCFILE_APP.items():
        (repo / name).write_text(text)
    (repo / "serve.sh").chmod(0o755)
    git_port = re.search(r"Git: +http://127.0.0.1:(\d+)/", banner).group(1)
    git_env = {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_TERMINAL_PROMPT": "0",
               "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@example.test"}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "app"],
                 ["remote", "add", "paas", f"http://127.0.0.1:{git_port}/acldemo.git"]):
        subprocess.run(["git", *args], cwd=repo, env=git_env, check=True, capture_output=True)
    push = subprocess.run(["git", "push", "paas", "main"], cwd=repo, env=git_env, capture_output=True, text=True,
                          timeout=600)
    assert push.returncode == 0, push.stderr[-3000:]
    assert "remote: -----> Released v2" in push.stderr

    if os.geteuid() == 0:  # the agent runs only as root: then the app is served through the router
        router_port = re.search(r"Apps: +http://<app>.localhost:(\d+)/", banner).group(1)

        def served() -> bool:
            result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                     "Host: acldemo.localhost", f"http://127.0.0.1:{router_port}/"],
                                    capture_output=True, text=True)
            return result.stdout == "200"
        wait_for(served, 120, "the app served through the router")
        lines = wait_for(lambda: (entries := admin_redis.xrange("paas:logs:acldemo"))
                         and {e[1][b"source"] for e in entries} >= {b"app", b"router"} and entries, 60,
                         "app output (agent) and access lines (router) in the app's stream")
        assert any(b"serving on" in e[1][b"line"] for e in lines)
    refused = [(entry["username"], entry["object"], entry["reason"]) for entry in admin_redis.acl_log()]
    assert refused == []
