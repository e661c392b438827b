"""The native front end of `paas-runner run` (init/paas-runner.c) against the Python path.

Differential: the same command lines through both must give the same exit
code, stdout and stderr; PAAS_RUNNER_NATIVE_ONLY=1 makes the front end exit
99 instead of handing a form to Python, which proves a case ran natively.
Then real containers through the native path: isolation, exit codes, OOM,
stdin, signals and cleanup.
"""

import inspect
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from paas.runtime import cgroups, cli, container, initbin, network, rootview, spec, validate
from paas.runtime.state import Record

from .conftest import RUNNER, mounts_mentioning, wait_for

PIP_SCRIPT = "#!{python}\nimport sys\nfrom paas.runtime.cli import main\nsys.exit(main())\n"


@pytest.fixture(scope="session")
def front(tmp_path_factory):
    """The front end installed the way pip's script installs it on first use."""
    script = tmp_path_factory.mktemp("bin") / "paas-runner"
    script.write_text(PIP_SCRIPT.format(python=sys.executable))
    assert cli.install_launcher(str(script))
    assert script.read_bytes()[:4] == cli.ELF_MAGIC
    return str(script)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra)
    return env


def native(front, args, native_only=True, **kwargs):
    env = _env(PAAS_RUNNER_NATIVE_ONLY="1") if native_only else _env()
    return subprocess.run([front, "run", *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False, **kwargs)


def python(args, **kwargs):
    return subprocess.run(RUNNER + ["run", *args], capture_output=True, text=True, env=_env(), timeout=60,
                          check=False, **kwargs)


def _assert_nothing_left(name):
    assert not container.instance_dir(name).exists()
    assert not cgroups.cgroup_for(name).exists()
    assert not mounts_mentioning(name)


# -- one source of truth ---------------------------------------------------------

def test_constants_match_the_python_side():
    out = subprocess.run([str(initbin.init_binary()), "--constants"], capture_output=True, text=True,
                         check=True).stdout
    c: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        c.setdefault(key, []).append(value)
    assert int(c["MIN_MEMORY"][0]) == validate.MIN_MEMORY
    assert int(c["MIN_PIDS"][0]) == validate.MIN_PIDS
    assert c["DEFAULT_PATH"] == [validate.DEFAULT_PATH]
    assert c["DEFAULT_USER"] == [rootview.DEFAULT_USER] and int(c["DEFAULT_UID"][0]) == rootview.DEFAULT_UID
    assert int(c["MAX_SYMLINKS"][0]) == rootview.MAX_SYMLINKS
    assert int(c["CFS_PERIOD_US"][0]) == cgroups.CFS_PERIOD_US
    assert int(c["CPU_SHARES"][0]) == spec.Limits().cpu_shares
    assert int(c["EXIT_BAD_INPUT"][0]) == cli.EXIT_BAD_INPUT
    assert float(c["CGROUP_EBUSY_TIMEOUT"][0]) == inspect.signature(cgroups.Cgroup.remove).parameters["timeout"].default
    assert tuple(c["MASKED_PATHS"]) == spec.MASKED_PATHS
    assert tuple(c["READONLY_PATHS"]) == spec.READONLY_PATHS
    assert tuple(c["V1_CONTROLLERS"]) == cgroups.V1_CONTROLLERS
    assert tuple(c["V2_CONTROLLERS"]) == cgroups.V2_CONTROLLERS
    points = "(" + ", ".join(f'"{p}"' for p in c["SYSTEM_MOUNT_POINTS"]) + ")"
    assert points in inspect.getsource(validate.check_mount_points)
    assert c["OOM_MESSAGE"][0] in inspect.getsource(cli._run)
    assert tuple(c["SOURCES"]) == initbin.SOURCES
    assert sorted(initbin.SOURCES) == sorted(p.name for p in initbin.INIT_DIR.iterdir())
    assert c["DIGEST"] == [initbin.digest()]
    attachment = network.Attachment(mode="none").to_dict()
    assert sorted(c["ATTACHMENT_STRINGS"] + c["ATTACHMENT_INTS"] + ["mode"]) == sorted(attachment)
    assert all(attachment[k] == "" for k in c["ATTACHMENT_STRINGS"])
    assert all(attachment[k] == 0 for k in c["ATTACHMENT_INTS"])
    options = {}
    for value in c["RUN_OPTION"]:
        name, kind, many = value.split()
        options[name] = (kind, many == "1")
    assert options == {name: ({float: "float", int: "int"}.get(convert, "str"), many)
                       for name, (_, _, convert, many) in cli.RUN_OPTIONS.items()}


# -- differential: bad input and what falls back -------------------------------------

def _rootfs(tmp_path, links=()):
    root = tmp_path / "rootfs"
    for d in ("usr", "etc", "tmp", "proc", "sys", "dev", "app"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("bin", "lib", "lib64", "sbin"):
        os.symlink(f"usr/{d}", root / d)
    for name, target in links:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        os.symlink(target, path)
    return root


NATIVE_BAD = [
    ["--network", "none", "--memory", "4M", "--", "true"],
    ["--network", "none", "--memory", "lots", "--", "true"],
    ["--network", "none", "--memory", "1.5x", "true"],
    ["--network", "none", "--tmp-size", "1k", "true"],
    ["--network", "none", "--disk", "0", "true"],
    ["--network", "none", "--cpus", "5", "true"],
    ["--network", "none", "--cpus", "0.001", "true"],
    ["--network", "none", "--cpus", "0", "true"],
    ["--network", "none", "--cpus", "1e-9", "true"],
    ["--network", "none", "--cpus", "12345678901234567890", "true"],
    ["--network", "none", "--pids", "2", "true"],
    ["--network", "host", "--", "no-such-command-xyz"],
    ["--network", "none", "--", "it's-missing"],
    ["--network", "none", "--", "tab\there\n"],
    ["--network", "none", "--", ""],
    ["--network", "none"],
    ["--network", "none", "--"],
    ["--network", "none", "--workdir", "/../../etc", "--", "true"],
    ["--network", "none", "--workdir", "/nonexistent", "--", "true"],
    ["--network", "none", "--workdir", "relative", "--", "true"],
    ["--network", "none", "--user", "nosuchuser", "--", "true"],
    ["--network", "none", "--env", "NOEQUALS", "--", "true"],
    ["--network", "none", "--env", "1BAD=x", "--", "true"],
    ["--network", "none", "-e", "A-B=1", "--", "true"],
    ["--network", "none", "--hostname", "bad_host", "--", "true"],
    ["--network", "none", "--hostname", "h" * 64, "--", "true"],
    ["--network", "none", "--name", "Bad", "--", "true"],
    ["--network", "none", "--name", "n" * 65, "--", "true"],
    ["--network", "none", "--layer", "/nonexistent/layer", "--", "true"],
    ["--network", "none", "--volume", "bad", "--", "true"],
    ["--network", "none", "-v", "/tmp:/x:xx", "--", "true"],
    ["--network", "none", "-v", "/nonexistent:/x", "--", "true"],
    ["--network", "none", "-v", "/tmp:relative", "--", "true"],
    ["--network", "none", "-v", "/tmp:/a/../b:rw", "--", "true"],
    ["--network", "none", "-v", "/tmp://data", "--", "true"],
    ["--network", "none", "--rootfs", "/nonexistent", "--", "true"],
    ["--network", "none", "--rootfs", ".", "--", "true"],
]

FALLBACK = [
    ["--", "true"],                                          # bridge, the default
    ["--network", "wormhole", "--", "true"],
    ["--network", "none", "--stack", "nosuchstack", "--", "true"],
    ["--network", "none", "--mem", "1G", "true"],             # argparse: an abbreviation
    ["--network", "none", "--cpus", "half", "true"],          # argparse: conversion error, exit 2
    ["--network", "none", "--cpus", "inf", "true"],
    ["--network", "none", "--pids", "1_0", "true"],
    ["--network", "none", "--", "caf\u00e9"],
    ["--network", "none", "--rootfs", "/a", "--stack", "host", "true"],
    # Control characters: validate.control_char is Python's (issue 10, item 5).
    ["--network", "none", "--", "sh", "-c", "echo \x1b[2J"],
    ["--network", "none", "-e", "A=1\x01", "--", "true"],
    ["--network", "none", "--workdir", "/tmp\n", "--", "true"],
    ["--network", "none", "--user", "app\t", "--", "true"],
    ["--network", "none", "-v", "/tmp:/da\tta", "--", "true"],
]


@pytest.mark.parametrize("args", NATIVE_BAD, ids=repr)
def test_bad_input_gives_the_python_message(front, host_stack, cid, args):
    name = cid()
    if "--name" not in args:
        args = ["--name", name, *args]
    fast, slow = native(front, args), python(args)
    assert fast.returncode != 99, fast.stderr            # handled natively
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode == 125 and len(fast.stderr.splitlines()) == 1, fast.stderr
    _assert_nothing_left(name)


@pytest.mark.parametrize("args", FALLBACK, ids=repr)
def test_other_forms_fall_back_to_python_unchanged(front, host_stack, cid, args):
    name = cid()
    args = ["--name", name, *args]
    assert native(front, args).returncode == 99
    fast, slow = native(front, args, native_only=False), python(args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    _assert_nothing_left(name)


@pytest.mark.parametrize("links, extra", [
    ([("app", "../../../../etc")], ["--workdir", "/app"]),
    ([("tmp", "/etc")], []),
    ([("data", "/etc")], ["-v", "/tmp:/data"]),
    ([("etc", "..")], []),
    ([("app", "/usr/../..")], ["--workdir", "/app/x"]),
    ([("app", "loop"), ("loop", "app")], ["--workdir", "/app"]),
    ([("app", "usr")], ["--", "/app/../../bin/true"]),
], ids=repr)
def test_symlinks_in_the_rootfs_are_judged_alike(front, cid, tmp_path, links, extra):
    root = _rootfs(tmp_path, links)
    name = cid()
    args = ["--name", name, "--network", "none", "--rootfs", str(root), "-v", "/usr:/usr", *extra]
    if "--" not in extra:
        args += ["--", "true"]
    fast, slow = native(front, args), python(args)
    assert fast.returncode != 99, fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    _assert_nothing_left(name)


def test_overlay_unsafe_layer_and_existing_name(front, host_stack, cid, tmp_path):
    odd = tmp_path / "a:b"
    odd.mkdir()
    name = cid()
    for args in (["--name", name, "--network", "none", "--layer", str(odd), "--", "true"],
                 ["--name", name, "--network", "none", "--layer", os.path.relpath(odd), "--", "true"]):
        fast, slow = native(front, args), python(args)
        assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr) and "overlayfs" in fast.stderr
    container.instance_dir(name).mkdir(parents=True)
    try:
        args = ["--name", name, "--network", "none", "--", "true"]
        fast, slow = native(front, args), python(args)
        assert (fast.returncode, fast.stderr) == (slow.returncode, slow.stderr) and "already exists" in fast.stderr
    finally:
        container.instance_dir(name).rmdir()


GOOD = [
    ["--network", "none", "--", "/bin/sh", "-c", "echo $HOSTNAME $HOME $PATH; pwd; id -u; id -g"],
    ["--network", "host", "--hostname", "web", "-w", "/usr", "-e", "A=1", "--env=A=2", "-e", "PATH=/bin",
     "-u", "0:5", "sh", "-c", "echo $HOSTNAME $A $PATH; pwd; id -u; id -g; cat /etc/hostname"],
    ["--network", "none", "--user", "nobody", "--cpus", "0.5", "--pids", "32", "--memory", "64m", "--tmp-size",
     "2M", "--disk", "8M", "--no-seccomp", "--", "sh", "-c", "id -u; df -k /tmp | tail -1 | tr -s ' ' | cut -d' ' -f2"],
]


@pytest.mark.parametrize("args", GOOD, ids=repr)
def test_good_runs_print_the_same(front, host_stack, cid, args):
    fast_name, slow_name = cid(), cid()
    fast = native(front, ["--name", fast_name, *args])
    slow = python(["--name", slow_name, *args])
    assert fast.returncode == 0, fast.stderr
    out = lambda r, n: r.stdout.replace(n, "ID")  # noqa: E731 (the default hostname is the id)
    assert (fast.returncode, out(fast, fast_name), fast.stderr) == (slow.returncode, out(slow, slow_name), slow.stderr)
    _assert_nothing_left(fast_name)


def _snapshot(directory: Path) -> dict:
    files = {}
    for path in sorted(directory.rglob("*")):
        # status is the helper's (create does not make it); state.json is compared as a Record.
        if path.is_file() and not path.name.startswith("state.json") and path.name != "status":
            files[str(path.relative_to(directory))] = (path.read_bytes(), oct(path.stat().st_mode))
    return files


@pytest.mark.parametrize("args", [
    ["--network", "none", "--hostname", "web", "-e", "A=1", "-e", "PATH=/x:/bin", "-e", "A=2", "--cpus", "1.5",
     "-v", "/tmp:/data:rw", "-v", "/etc:/etc2", "--layer", "/usr/share", "-w", "/usr", "--no-seccomp"],
    ["--network", "host", "--user", "0:7", "--memory", "1.5g", "--pids", "99"],
], ids=repr)
def test_host_side_matches_create(front, host_stack, cid, args):
    """Spec tokens, /etc layer, cgroup limits and state.json as container.create makes them."""
    name = cid()
    argv = ["--name", name, *args, "--", "/bin/sh", "-c", "read line"]
    proc = subprocess.Popen([front, "run", *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(PAAS_RUNNER_NATIVE_ONLY="1"))
    try:
        directory = container.instance_dir(name)
        record = wait_for(lambda: _load_running(directory), what="the native container running")
        fast_files = _snapshot(directory)
        fast_limits = _limits(name)
    finally:
        proc.communicate(b"\n", timeout=30)
    assert proc.returncode == 0
    _assert_nothing_left(name)
    assert record.pid == proc.pid + 1 or record.pid > 0
    assert record.network == network.Attachment(mode=args[1]).to_dict()
    created = container.create(cli._spec_from_args(cli._parse_run_fast(["run", *argv])))
    try:
        assert _snapshot(directory) == {k: v for k, v in fast_files.items() if k in _snapshot(directory)}
        assert set(fast_files) == set(_snapshot(directory))
        assert _limits(name) == fast_limits
        assert created.record.labels == record.labels and created.record.stop_grace == record.stop_grace
    finally:
        container.release(name)


def _load_running(directory):
    try:
        record = Record.load(directory)
    except (OSError, ValueError):
        return None
    return record if record.state.value == "running" else None


def _limits(name):
    cg = cgroups.cgroup_for(name)
    out = {}
    for d in cg.dirs():
        for f in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "cpu.shares",
                  "cpu.cfs_period_us", "cpu.cfs_quota_us", "pids.max", "memory.max", "cpu.max", "cpu.weight"):
            if (d / f).exists():
                out[f] = (d / f).read_text()
    return out


# -- real containers through the native path --------------------------------------------

def test_isolation(front, host_stack, cid):
    name = cid()
    script = ("echo pid=$$; hostname; grep CapEff /proc/self/status; echo $(cat /proc/kcore 2>/dev/null | wc -c); "
              "touch /usr/x 2>/dev/null || echo usr-ro; touch /proc/sys/x 2>/dev/null || echo sys-ro; "
              "grep NoNewPrivs /proc/self/status; cat /etc/hosts | tail -1")
    result = native(front, ["--name", name, "--network", "none", "--hostname", "box", "--", "/bin/sh", "-c", script])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "pid=2"  # PID 1 is paas-init
    assert lines[1] == "box"
    assert lines[2].split() == ["CapEff:", "0000000000000000"]
    assert lines[3].strip() == "0"
    assert "usr-ro" in lines and "sys-ro" in lines
    assert "NoNewPrivs:\t1" in lines
    assert lines[-1] == "127.0.1.1\tbox"
    _assert_nothing_left(name)


@pytest.mark.parametrize("script, code", [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137), ("kill -TERM $$", 143)])
def test_exit_codes(front, host_stack, cid, script, code):
    name = cid()
    result = native(front, ["--name", name, "--network", "none", "--", "/bin/sh", "-c", script])
    assert result.returncode == code, result.stderr
    _assert_nothing_left(name)


def test_a_failed_start_is_125(front, host_stack, cid, tmp_path):
    # /usr/bin/true exists on the host stack; a layer that hides it behind a directory makes exec fail inside.
    name = cid()
    result = native(front, ["--name", name, "--network", "none", "--", "/bin/sh", "-c", "exec /nonexistent"])
    assert result.returncode == 127
    _assert_nothing_left(name)


def test_oom_kill_is_137(front, host_stack, cid):
    from .test_limits import HOG

    name = cid()
    result = native(front, ["--name", name, "--network", "none", "--memory", "48M", "--", "python3", "-c", HOG])
    assert result.returncode == 137
    assert result.stderr.splitlines()[-1] == "paas-runner: the container was OOM-killed (memory limit reached)"
    _assert_nothing_left(name)


def test_stdin_is_attached(front, host_stack, cid):
    name = cid()
    result = native(front, ["--name", name, "--network", "none", "--", "/bin/sh", "-c", "tr a-z A-Z; exit 4"],
                    input="hello\n")
    assert (result.returncode, result.stdout) == (4, "HELLO\n")
    _assert_nothing_left(name)


def test_no_inherited_descriptor_reaches_the_container(front, host_stack, cid, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        result = native(front, ["--name", cid(), "--network", "none", "--", "/bin/sh", "-c",
                                f"if [ -e /proc/self/fd/{fd} ]; then cat /proc/self/fd/{fd}; else echo closed; fi"],
                        pass_fds=(fd,))
    finally:
        os.close(fd)
    assert (result.returncode, result.stdout) == (0, "closed\n"), result.stderr


TRAP = "trap 'echo got-{sig}; exit {code}' {sig}; echo ready; while :; do sleep 0.05; done"


@pytest.mark.parametrize("sig, code, group", [("TERM", 21, False), ("INT", 22, True), ("HUP", 23, False)])
def test_signals_reach_the_app_and_the_front_end_cleans_up(front, host_stack, cid, sig, code, group):
    """SIGTERM (or SIGHUP) to the front end alone is relayed; Ctrl-C (SIGINT to the group) reaches the app."""
    name = cid()
    proc = subprocess.Popen([front, "run", "--name", name, "--network", "none", "--", "/bin/sh", "-c",
                             TRAP.format(sig=sig, code=code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(PAAS_RUNNER_NATIVE_ONLY="1"), start_new_session=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        number = getattr(signal, f"SIG{sig}")
        if group:
            os.killpg(proc.pid, number)
        else:
            proc.send_signal(number)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # A Ctrl-C reaches the app twice, as on the Python path: from the terminal
    # (the whole group) and forwarded by PID 1, which is in that group too.
    assert proc.returncode == code and set(out.split()) == {f"got-{sig}"}, err
    _assert_nothing_left(name)


def test_a_killed_front_end_leaves_what_the_sweep_removes(front, host_stack, cid):
    from paas.runtime.sweep import sweep

    name = cid()
    proc = subprocess.Popen([front, "run", "--name", name, "--network", "none", "--", "/bin/sh", "-c",
                             "echo ready; sleep 60"], stdout=subprocess.PIPE, env=_env(PAAS_RUNNER_NATIVE_ONLY="1"),
                            start_new_session=True)
    assert proc.stdout.readline() == b"ready\n"
    record = Record.load(container.instance_dir(name))
    assert record.state.value == "running" and record.pid
    os.killpg(proc.pid, signal.SIGKILL)  # the front end, the helper and the app's process group
    proc.wait()
    cgroups.cgroup_for(name).kill_all()
    wait_for(lambda: not cgroups.cgroup_for(name).pids(), what="the container's processes gone")
    assert f"removed leftovers of {name}" in sweep()
    _assert_nothing_left(name)
