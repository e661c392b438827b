"""The runner's fast start: the fast `run` parser agrees with argparse, and the launcher."""

import os
import subprocess
import sys

import pytest
from paas.runtime import cli, config, initbin

SAME = [
    ["run", "--", "/bin/true"],
    ["run", "/bin/true"],
    ["run"],
    ["run", "--network", "none", "--rootfs", "/tmp/r", "--", "/bin/true"],
    ["run", "--network=host", "--stack=host", "sh", "-c", "echo --memory 1G"],
    ["run", "--memory", "64M", "--cpus", "0.5", "--pids", "32", "--tmp-size", "2M", "--disk", "8M", "true"],
    ["run", "-e", "A=1", "--env", "B=2", "--env=C=3", "-v", "/a:/b", "--volume", "/c:/d:rw", "x"],
    ["run", "--layer", "/l1", "--layer=/l2", "--workdir", "/app", "-w", "/srv", "--user", "0", "-u", "app", "x"],
    ["run", "--hostname", "web", "--name", "n1", "--no-seccomp", "--", "--not-an-option"],
    ["run", "--env=", "x", "--memory", "1G"],
    ["run", "--cpus", " 2 ", "--", "--", "x"],
]

FALLBACK = [
    ["stack:list"],
    ["run", "-h"],
    ["run", "--mem", "1G", "x"],              # an abbreviation argparse would expand
    ["run", "-eA=1", "x"],
    ["run", "-e=A", "x"],
    ["run", "--env", "-x", "y"],              # a value that looks like an option
    ["run", "--cpus", "half", "x"],           # argparse's conversion error
    ["run", "--pids", "1.5", "x"],
    ["run", "--stack", "host", "--rootfs", "/r", "x"],
    ["run", "--rootfs", "/a", "--rootfs", "/b", "x"],
    ["run", "--memory"],
    ["run", "--no-seccomp=1", "x"],
    ["run", "--unknown", "x"],
]


@pytest.mark.parametrize("argv", SAME, ids=" ".join)
def test_fast_parser_reads_like_argparse(argv):
    fast = cli._parse_run_fast(argv)
    assert fast is not None
    assert vars(fast) == vars(cli._parser().parse_args(argv))


@pytest.mark.parametrize("argv", FALLBACK, ids=" ".join)
def test_fast_parser_leaves_the_rest_to_argparse(argv):
    assert cli._parse_run_fast(argv) is None


PIP_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from paas.runtime.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60, check=False, **kwargs)


def test_console_script_replaces_itself_with_the_launcher(tmp_path, host_stack, cid):
    script = tmp_path / "paas-runner"
    script.write_text(PIP_SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    first = _run([str(script), "run", "--name", cid(), "--network", "none", "--", "/bin/sh", "-c", "exit 7"])
    assert first.returncode == 7, first.stderr
    # The native front end in the script's place, the -I -S Python launcher beside it.
    assert script.read_bytes()[:4] == cli.ELF_MAGIC and os.access(script, os.X_OK)
    launcher = tmp_path / "paas-runner.py"
    text = launcher.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n") and cli.LAUNCHER_MARK in text
    assert f"\n# checkout: {config.CHECKOUT_DIR}\n" in text
    # Containers run natively; bad input is refused; the other verbs reach Python (with site).
    second = _run([str(script), "run", "--name", cid(), "--network", "none", "--", "/bin/sh", "-c", "echo out; exit 3"])
    assert (second.returncode, second.stdout) == (3, "out\n"), second.stderr
    bad = _run([str(script), "run", "--network", "none", "--", "/no/such/cmd"])
    assert bad.returncode == 125 and "command '/no/such/cmd' not found" in bad.stderr
    listed = _run([str(script), "stack:list"])
    assert listed.returncode == 0 and "host" in listed.stdout.split()
    assert launcher.read_text() == text
    # A reinstall writes pip's script back; its first use installs the front end again.
    script.write_text(PIP_SCRIPT.format(python=sys.executable))
    again = _run([str(script), "run", "--name", cid(), "--network", "none", "--", "/bin/true"])
    assert again.returncode == 0, again.stderr
    assert script.read_bytes()[:4] == cli.ELF_MAGIC


def test_a_stale_front_end_runs_python_and_is_replaced(tmp_path, host_stack, cid):
    """After a git pull changed the C sources, the installed copy hands over to Python, which reinstalls it."""
    script = tmp_path / "paas-runner"
    script.write_text(PIP_SCRIPT.format(python=sys.executable))
    assert cli.install_launcher(str(script))
    current = script.read_bytes()
    # A build of other sources: its compiled-in digest is not the checkout's.
    subprocess.run(["gcc", "-static", "-Os", "-s", '-DPAAS_DIGEST="0000000000"', "-o", str(script),
                    *(str(initbin.INIT_DIR / name) for name in initbin.COMPILED)], check=True)
    stale = script.read_bytes()
    assert stale != current
    native_only = dict(_env(), PAAS_RUNNER_NATIVE_ONLY="1")
    refused = subprocess.run([str(script), "run", "--network", "none", "--", "/bin/true"], env=native_only,
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 99 and "not the checkout's source" in refused.stderr
    result = _run([str(script), "run", "--name", cid(), "--network", "none", "--", "/bin/sh", "-c", "exit 4"])
    assert result.returncode == 4, result.stderr
    assert script.read_bytes() == current


def test_launcher_leaves_other_scripts_alone(tmp_path):
    other = tmp_path / "paas-runner"
    other.write_text("#!/bin/sh\nexec true\n")
    assert not cli.install_launcher(str(other))
    assert other.read_text() == "#!/bin/sh\nexec true\n"
    assert not cli.install_launcher(str(tmp_path / "missing"))



def test_run_passes_no_inherited_descriptor_into_the_container(cid, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    # An inheritable descriptor, as a shell's 42<secret gives a command. Its number is
    # whatever is free: a fixed one can be busy in a test process with other threads.
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        argv = [sys.executable, "-m", "paas.runtime.cli", "run", "--name", cid(), "--network", "none", "--",
                "/bin/sh", "-c", f"if [ -e /proc/self/fd/{fd} ]; then cat /proc/self/fd/{fd}; else echo closed; fi"]
        result = subprocess.run(argv, capture_output=True, text=True, pass_fds=(fd,), env=os.environ.copy(),
                                timeout=60, check=False)
    finally:
        os.close(fd)
    assert (result.returncode, result.stdout) == (0, "closed\n"), result.stderr


def test_a_python_launcher_in_the_scripts_place_makes_way_for_the_native_one(tmp_path, host_stack, cid):
    """Venvs set up by the Python-only versions have LAUNCHER as paas-runner itself."""
    script = tmp_path / "paas-runner"
    script.write_text(cli.LAUNCHER.format(python=sys.executable, mark=cli.LAUNCHER_MARK, checkout=str(config.CHECKOUT_DIR)))
    script.chmod(0o755)
    result = _run([str(script), "run", "--name", cid(), "--network", "none", "--", "/bin/sh", "-c", "exit 5"])
    assert result.returncode == 5, result.stderr
    assert script.read_bytes()[:4] == cli.ELF_MAGIC
    assert cli.LAUNCHER_MARK in (tmp_path / "paas-runner.py").read_text()
