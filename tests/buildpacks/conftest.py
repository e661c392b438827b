"""Fixtures for real builds with the local executor and for running slugs."""

import contextlib
import os
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request

import pytest

from paas.buildpacks.driver import build
from paas.buildpacks.executor import LocalExecutor
from paas.buildpacks.launch import process_argv


def write_files(root, files: dict) -> str:
    """Create files (path -> text) under root; returns root as str."""
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


class Builder:
    """Runs builds of one app into a fresh slug path each time, keeping its output."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.cache_dir = tmp_path / "cache"
        self.cache_dir.mkdir()
        self.count = 0
        self.lines: list[str] = []

    def __call__(self, source_dir, **kwargs):
        self.count += 1
        self.lines = []
        slug_path = str(self.tmp_path / f"slug-{self.count}.tgz")
        kwargs.setdefault("executor", LocalExecutor())
        return build(str(source_dir), str(self.cache_dir), slug_path, on_output=self.lines.append, **kwargs)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def builder(tmp_path):
    return Builder(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unpack(slug_path, dest) -> str:
    """Extract a slug the way a runner would, refusing unsafe members."""
    os.makedirs(dest)
    with tarfile.open(slug_path) as tar:
        tar.extractall(dest, filter="data")
    return str(dest)


def http_get(url: str, deadline: float, proc) -> tuple[int, str]:
    """GET url, retrying until it answers or the deadline passes."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"the process exited with {proc.returncode} before answering")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def running(slug, process_type: str, workdir, extra_env=None):
    """Start a process type from the unpacked slug on a free port; yields its base URL."""
    app_dir = unpack(slug.path, os.path.join(workdir, f"run-{process_type}-{os.urandom(3).hex()}"))
    port = free_port()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": app_dir,
        "PORT": str(port),
        "LANG": "C.UTF-8",
        **slug.default_env,
        **(extra_env or {}),
    }
    log_path = os.path.join(workdir, f"{process_type}-{port}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            process_argv(slug.process_types[process_type]),
            cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc
    except BaseException:
        with open(log_path, errors="replace") as f:
            print(f"--- {process_type} output ---\n{f.read()}")
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def serve(tmp_path):
    """serve(slug, "web") -> context manager yielding (base_url, process)."""
    return lambda slug, process_type="web", **kw: running(slug, process_type, str(tmp_path), **kw)


@pytest.fixture
def get():
    """get(url, proc) -> (status, body), waiting up to 30 s for the server to come up."""
    return lambda url, proc: http_get(url, time.monotonic() + 30, proc)


@pytest.fixture
def make_app(tmp_path):
    """make_app({"app.py": "...", ...}, name="src") -> path of a new source tree."""
    def make(files: dict, name: str = "src") -> str:
        root = tmp_path / name
        root.mkdir()
        return write_files(root, files)
    return make



# Debian stacks for tests live apart from the tests' runtime dir, so that apps the platform's tests
# create there keep the host stack (the default stack is forky only where forky is built).
TEST_STACKS_DIR = os.environ.get("PAAS_TEST_STACKS_DIR", "/tmp/paas-stacks-tests")


@pytest.fixture(scope="session")
def _forky_stack_built() -> None:
    import shutil

    from paas.runtime import config, stacks

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "stacks_dir", lambda: __import__("pathlib").Path(TEST_STACKS_DIR))
        if "forky" not in stacks.names():
            if shutil.which("debootstrap") is None:
                pytest.skip("debootstrap is not installed")
            stacks.build_debian("forky")


@pytest.fixture
def forky_stack(_forky_stack_built, monkeypatch) -> str:
    """The forky Debian stack, built by debootstrap on first use (minutes) and kept under
    TEST_STACKS_DIR for later runs; skipped where debootstrap is missing."""
    from pathlib import Path

    from paas.runtime import config

    monkeypatch.setattr(config, "stacks_dir", lambda: Path(TEST_STACKS_DIR))
    return "forky"


@pytest.fixture(scope="session")
def uv_lock(tmp_path_factory):
    """lock(project_dir) -> the text of the uv.lock that uv writes for it: made by the test, not
    kept in the repository (a lock names the index's hosts)."""
    import subprocess
    import sys

    tools = tmp_path_factory.mktemp("uv")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(tools), "uv"], check=True,
                   capture_output=True, timeout=600)

    def lock(project_dir) -> str:
        import shutil

        work = tmp_path_factory.mktemp("uvproject")
        shutil.copy(os.path.join(project_dir, "pyproject.toml"), work / "pyproject.toml")
        env = {**os.environ, "PYTHONPATH": str(tools), "UV_PYTHON": sys.executable, "UV_NO_CACHE": "1"}
        subprocess.run([str(tools / "bin" / "uv"), "lock", "--quiet"], cwd=work, env=env, check=True,
                       capture_output=True, timeout=600)
        return (work / "uv.lock").read_text()

    return lock
