"""Real platform processes for end-to-end tests: the git server (gunicorn) and a build worker (Celery)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dies_with_tests() -> None:
    """A preexec_fn for a peer server the tests start (pebble, docker-registry): the kernel sends it
    SIGTERM when the process that started it dies, so a run killed outright leaves none behind.
    (PR_SET_PDEATHSIG follows the starting thread: start such servers from the main thread.)"""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # 1: PR_SET_PDEATHSIG


def database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


class Processes:
    """Starts programs in their own sessions and kills each whole group at the end."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.children: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        child = subprocess.Popen(argv, env=self.env, cwd=self.log_dir, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        log.close()
        self.children.append(child)
        return child

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for child in self.children:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for child in self.children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()


def start_git_server(procs: Processes, port: int) -> None:
    child = procs.start("git", [str(BIN / "gunicorn"), "paas.platform.git.wsgi:application", "--bind",
                                f"127.0.0.1:{port}", "--worker-class", "gthread", "--threads", "8", "--workers", "1",
                                "--chdir", str(procs.log_dir), "--log-level", "warning"])
    wait_for_port(port, child, "git server")


def start_build_worker(procs: Processes) -> None:
    queue = procs.env.get("PAAS_BUILD_QUEUE", "builds")
    procs.start("worker", [str(BIN / "celery"), "-A", "paas.platform.celery", "worker", "-Q", queue,
                           "--concurrency", "2", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip",
                           "--without-mingle", "--without-heartbeat"])


def start_control_loop(procs: Processes) -> None:
    procs.start("control", [str(BIN / "paas-control"), "--interval", "0.5"])


def start_agent(procs: Processes) -> None:
    procs.start("agent", [str(BIN / "paas-agent"), "--interval", "0.3"])


def start_router(procs: Processes, port: int) -> None:
    child = procs.start("router", [str(BIN / "paas-router"), "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "1", "--admin-port", str(free_port())])
    wait_for_port(port, child, "router")
