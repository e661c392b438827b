"""`make up` end to end: private PostgreSQL and Redis, gunicorn, first-start credentials,
the CLI flow of the README, and Ctrl-C leaving no process behind."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.waiting import wait_for

CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_mentioning(text: str) -> list[str]:
    """Processes whose command line or environment names ``text`` (every child of make up has
    PAAS_DATA_DIR in its environment)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline or f"={text}" in environ or f"={text}\0" in environ:
            found.append(f"{proc.name} {cmdline}")
    return found


@pytest.fixture
def data_dir():
    # PostgreSQL runs as the postgres user when we are root: it must be able to enter the directory.
    path = Path(tempfile.mkdtemp(prefix="paas-up-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)])


@pytest.fixture
def platform_up(data_dir):
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        PAAS_DATA_DIR=str(data_dir),
        PAAS_API_PORT=str(api_port),
        PAAS_GIT_PORT=str(free_port()),
        PAAS_PG_PORT=str(free_port()),
        PAAS_REDIS_PORT=str(free_port()),
        PAAS_ROUTER_PORT=str(free_port()),
        PAAS_ROUTER_ADMIN_PORT=str(free_port()),
        PAAS_HOST_NAME=f"make-up-test-{os.getpid()}",
        PAAS_BUILD_STACKS="",  # building the Debian stack takes minutes and the mirror: not in tests
    )
    log = open(data_dir / "up.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "paas.compose.up"], cwd=CHECKOUT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        banner = wait_for(lambda: "Ctrl-C" in read(data_dir) and read(data_dir), 120, "make up banner")
        yield process, banner, f"http://127.0.0.1:{api_port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for line in processes_mentioning(str(data_dir)):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


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

    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert processes_mentioning(str(data_dir)) == []
    assert "stopped" in read(data_dir)


def test_second_start_does_not_print_a_password_again(platform_up, data_dir):
    process, banner, api = platform_up
    assert "password:" in banner
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    (data_dir / "up.log").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PAAS_DATA_DIR=str(data_dir), PAAS_API_PORT=api.rsplit(":", 1)[1], PAAS_GIT_PORT=str(free_port()),
               PAAS_PG_PORT=str(free_port()), PAAS_REDIS_PORT=str(free_port()), PAAS_ROUTER_PORT=str(free_port()),
               PAAS_ROUTER_ADMIN_PORT=str(free_port()), PAAS_HOST_NAME=f"make-up-test-{os.getpid()}",
               PAAS_BUILD_STACKS="")
    with open(data_dir / "up.log", "w") as log:
        again = subprocess.Popen([sys.executable, "-P", "-m", "paas.compose.up"], cwd=CHECKOUT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            banner = wait_for(lambda: "Ctrl-C" in read(data_dir) and read(data_dir), 120, "second banner")
            assert "password:" not in banner and "admin-token" in banner
        finally:
            os.killpg(again.pid, signal.SIGINT)
            again.wait(timeout=60)
    assert processes_mentioning(str(data_dir)) == []
