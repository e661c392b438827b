"""A container sees only itself: its PID 1, its hostname, its rootfs, no privileges."""

import os

PROBE = r"""
echo "pid=$$"
echo "init=$(cat /proc/1/cmdline | tr '\0' ' ')"
echo "host=$(hostname)"
echo "uid=$(id -u)"
grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status
for p in /root /home /work /run/netns; do [ -e $p ] && echo "visible=$p"; done
[ -s /proc/keys ] && echo "readable=/proc/keys"
[ -s /proc/timer_list ] && echo "readable=/proc/timer_list"
echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo "writable=/proc/sys"
touch /sys/x 2>/dev/null && echo "writable=/sys"
touch /usr/x 2>/dev/null && echo "writable=/usr"
touch /tmp/x && echo "tmp=ok"
echo "etc=$(cat /etc/hostname)"
exit 0
"""


def facts(output: str) -> dict:
    out = {}
    for line in output.splitlines():
        key, _, value = line.partition("=") if "=" in line else line.partition(":")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_container_is_isolated(runner):
    result = runner(["--network", "none", "--hostname", "probe-host", "--", "sh", "-c", PROBE])
    assert result.returncode == 0, result.stderr
    f = facts(result.stdout)
    assert f["pid"] == ["2"]                       # the shell is the first child of PID 1
    assert "paas-init" in f["init"][0]             # PID 1 is the static init, not the app
    assert f["host"] == ["probe-host"] and f["etc"] == ["probe-host"]
    assert f["uid"] == ["10000"]
    assert f["CapEff"] == ["0000000000000000"]
    assert f["CapPrm"] == ["0000000000000000"]
    assert f["CapBnd"] == ["0000000000000000"]
    assert f["NoNewPrivs"] == ["1"]
    assert f["Seccomp"] == ["2"]
    assert "visible" not in f, f.get("visible")
    assert "readable" not in f, f.get("readable")
    assert "writable" not in f, f.get("writable")
    assert f["tmp"] == ["ok"]


def test_seccomp_refuses_namespace_calls(runner):
    result = runner(["--network", "none", "--", "unshare", "-U", "true"])
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr


def test_stdin_and_exit_code_pass_through(runner):
    result = runner(["--network", "none", "--", "sh", "-c", "cat; exit 7"], input="hello from stdin\n")
    assert result.stdout == "hello from stdin\n"
    assert result.returncode == 7


def test_env_workdir_and_user(runner):
    result = runner(["--network", "none", "--env", "GREETING=hi there", "--workdir", "/tmp", "--user", "nobody",
                     "--", "sh", "-c", 'echo "$GREETING|$(pwd)|$(id -u)"'])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi there|/tmp|65534"


def test_layers_stack_over_the_rootfs(runner, tmp_path):
    layer = tmp_path / "layer"
    (layer / "app").mkdir(parents=True)
    (layer / "app" / "hello.txt").write_text("from the layer\n")
    result = runner(["--network", "none", "--layer", str(layer), "--workdir", "/app", "--", "cat", "hello.txt"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from the layer\n"
    # The writable layer is thrown away: the layer itself was not changed.
    result = runner(["--network", "none", "--layer", str(layer), "--user", "root", "--",
                     "sh", "-c", "echo changed > /app/hello.txt && cat /app/hello.txt"])
    assert result.stdout == "changed\n"
    assert (layer / "app" / "hello.txt").read_text() == "from the layer\n"


def test_the_app_can_use_the_device_nodes_whatever_our_umask(runner):
    old = os.umask(0o077)  # the caller's umask must not decide what the app may use
    try:
        result = runner(["--network", "none", "--", "sh", "-c",
                         "echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c"
                         " && stat -c %a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty"])
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "4"] + ["666"] * 6
