"""LocalExecutor: streaming, mount-path mapping, exit codes, time limits."""

import threading

import pytest

from paas.buildpacks.errors import BuildCancelled, BuildTimeout
from paas.buildpacks.executor import LocalExecutor, Mount


def run(argv, timeout=30.0, mounts=(), cwd="/", env=None):
    lines = []
    code = LocalExecutor().run(argv, env=env or {"PATH": "/usr/bin:/bin"}, cwd=cwd, mounts=list(mounts),
                               timeout=timeout, on_line=lines.append)
    return code, lines


def test_lines_from_stdout_and_stderr_arrive_in_order_without_endings():
    code, lines = run(["/bin/sh", "-c", "echo one; echo two >&2; printf 'three\\r\\n'; printf tail"])
    assert (code, lines) == (0, ["one", "two", "three", "tail"])


def test_exit_status_is_returned():
    assert run(["/bin/sh", "-c", "exit 7"])[0] == 7


def test_lines_are_streamed_as_they_are_written(tmp_path):
    # The step waits for a file that only the callback for its first line
    # creates: without streaming it would never print its second line.
    flag = tmp_path / "seen-first"
    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo second"
    lines = []

    def on_line(line):
        lines.append(line)
        if line == "first":
            flag.touch()

    code = LocalExecutor().run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                               mounts=[], timeout=60, on_line=on_line)
    assert (code, lines) == (0, ["first", "second"])


def test_mount_targets_are_mapped_to_their_sources(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "f.txt").write_text("in the app dir\n")
    mounts = [Mount(str(tmp_path / "app"), "/app", read_only=False)]
    env = {"PATH": "/usr/bin:/bin", "APP": "/app"}
    assert run(["/bin/cat", "/app/f.txt"], mounts=mounts) == (0, ["in the app dir"])
    assert run(["/bin/sh", "-c", 'pwd; echo "$APP"'], mounts=mounts, cwd="/app", env=env) == (
        0, [str(tmp_path / "app"), str(tmp_path / "app")])


def test_mapping_respects_path_boundaries(tmp_path):
    mounts = [Mount(str(tmp_path), "/app")]
    code, lines = run(["/bin/echo", "/application", "/app/x", "/app"], mounts=mounts)
    assert lines == [f"/application {tmp_path}/x {tmp_path}"]


def test_time_limit_raises_build_timeout():
    # That the whole group dies is checked in test_source_checks.py.
    with pytest.raises(BuildTimeout, match="ran longer than 0.5 s and was killed"):
        run(["/bin/sh", "-c", "sleep 60 & sleep 60"], timeout=0.5)


def test_output_without_newlines_is_passed_on_in_bounded_pieces():
    code, lines = run(["/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"])
    assert code == 0 and "".join(lines) == "x" * 200000
    assert max(map(len, lines)) <= 64 * 1024


def test_cancel_kills_the_step():
    cancel = threading.Event()

    def on_line(line):
        if line == "started":
            cancel.set()

    with pytest.raises(BuildCancelled, match="the build was cancelled"):
        LocalExecutor().run(["/bin/sh", "-c", "echo started; sleep 60"], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                            mounts=[], timeout=120, on_line=on_line, cancel=cancel)
