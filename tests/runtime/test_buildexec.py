"""The build container executor, against the contract in buildpacks/README.md."""

import pytest

from paas.buildpacks.errors import BuildTimeout
from paas.buildpacks.executor import Mount
from paas.runtime import config
from paas.buildpacks.containerexec import ContainerExecutor

STEP = """
echo "env: $(env | sort | tr '\\n' ' ')"
echo built > /app/out.txt
echo "to stderr" >&2
touch /build/env/x 2>/dev/null && echo "env dir writable"
printf 'crlf line\\r\\n'
sleep 300 &
exit 4
"""


def test_step_runs_with_its_mounts_and_env(tmp_path):
    app, envdir = tmp_path / "app", tmp_path / "env"
    app.mkdir()
    envdir.mkdir()
    lines = []
    code = ContainerExecutor(name="bx").run(
        ["/bin/sh", "-c", STEP], env={"PATH": "/usr/bin:/bin", "ONLY": "this"}, cwd="/app",
        mounts=[Mount(str(app), "/app", False), Mount(str(envdir), "/build/env")], timeout=60, on_line=lines.append)
    assert code == 4
    assert (app / "out.txt").read_text() == "built\n"
    env_line = next(line for line in lines if line.startswith("env: "))
    assert "ONLY=this" in env_line and "PAAS_RUNTIME_DIR" not in env_line
    assert "to stderr" in lines and "crlf line" in lines
    assert "env dir writable" not in lines
    assert not list(config.instances_dir().glob("bx-*"))


def test_step_past_its_time_limit_is_killed(tmp_path):
    lines = []
    with pytest.raises(BuildTimeout):
        ContainerExecutor(name="bt").run(["/bin/sh", "-c", "echo started; sleep 300"], env={"PATH": "/usr/bin:/bin"},
                                         cwd="/", mounts=[], timeout=0.5, on_line=lines.append)
    assert lines == ["started"]
    assert not list(config.instances_dir().glob("bt-*"))


def test_a_missing_stack_is_a_build_error():
    from paas.buildpacks.errors import BuildError

    with pytest.raises(BuildError, match="unknown stack"):
        ContainerExecutor(stack="no-such-stack", name="bs").run(["/bin/true"], env={}, cwd="/", mounts=[],
                                                                 timeout=10, on_line=print)


def test_a_cancelled_step_is_killed():
    import threading

    from paas.buildpacks.errors import BuildCancelled

    cancel = threading.Event()
    lines = []

    def on_line(line):
        lines.append(line)
        cancel.set()  # cancel as soon as the step is known to run

    with pytest.raises(BuildCancelled):
        ContainerExecutor(name="bc").run(["/bin/sh", "-c", "echo started; sleep 300"], env={"PATH": "/usr/bin:/bin"},
                                         cwd="/", mounts=[], timeout=60, on_line=on_line, cancel=cancel)
    assert lines == ["started"]
    assert not list(config.instances_dir().glob("bc-*"))


def test_a_script_that_cannot_run_is_an_os_error(tmp_path):
    script = tmp_path / "compile"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(OSError):
        ContainerExecutor(name="bo").run(["/build/bp/compile"], env={}, cwd="/", timeout=10, on_line=print,
                                         mounts=[Mount(str(tmp_path), "/build/bp")])


def test_a_step_without_network_has_loopback_alone():
    """detect and release run with network=False: no link to the bridge, nothing to reach."""
    def interfaces(network):
        lines = []
        code = ContainerExecutor(name="bn").run(
            ["/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"], env={"PATH": "/usr/bin:/bin"},
            cwd="/", mounts=[], timeout=60, on_line=lines.append, network=network)
        assert code == 0
        return sorted(lines)

    assert interfaces(False) == ["lo"]
    assert len(interfaces(True)) == 2  # loopback and its link to the bridge
    assert not list(config.instances_dir().glob("bn-*"))


def test_detect_and_release_see_the_app_read_only_and_no_cache(tmp_path):
    """A hostile buildpack's detect or release cannot change the app or the cache (Heroku gives them
    BUILD_DIR alone), nor reach the network; its compile still can write both."""
    from paas.buildpacks.selection import Buildpack
    from paas.buildpacks.steps import Steps, Workspace

    bp = tmp_path / "bp"
    (bp / "bin").mkdir(parents=True)
    probe = ("#!/bin/sh\nfound=Probe\ntouch /app/planted 2>/dev/null && found=\"$found app-writable\"\n"
             "[ -e /build/cache ] && found=\"$found cache-seen\"\n"
             "tail -n +3 /proc/net/dev | grep -qv '^ *lo:' && found=\"$found network\"\n")
    (bp / "bin" / "detect").write_text(probe + "echo \"$found\"\n")
    (bp / "bin" / "release").write_text(probe + "echo '---'; echo \"config_vars: {FOUND: \\\"$found\\\"}\"\n")
    (bp / "bin" / "compile").write_text(probe + "echo \"$found\"\n")
    for script in ("detect", "release", "compile"):
        (bp / "bin" / script).chmod(0o755)
    dirs = {name: tmp_path / name for name in ("app", "cache", "env", "tmp")}
    for path in dirs.values():
        path.mkdir()
    ws = Workspace(app_dir=str(dirs["app"]), cache_dir=str(dirs["cache"]), env_dir=str(dirs["env"]),
                   tmp_dir=str(dirs["tmp"]), stack="host")
    steps = Steps(ContainerExecutor(name="bd", build_dirs=(str(tmp_path),)), ws)
    buildpack = Buildpack("probe", str(bp))
    assert steps.detect(buildpack) == (True, "Probe")
    assert steps.release(buildpack).config_vars == {"FOUND": "Probe"}
    assert not (dirs["app"] / "planted").exists()
    lines = []
    steps.compile(buildpack, 60, lines.append)
    assert lines == ["Probe app-writable cache-seen network"]
