"""Bad input: a one-line error, exit code 125, no traceback, nothing left behind."""

import os

import pytest

from paas.runtime import cgroups, container


def _assert_clean_refusal(result, name, words):
    assert result.returncode == 125, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not container.instance_dir(name).exists()
    assert not cgroups.cgroup_for(name).exists()


@pytest.mark.parametrize("args, words", [
    (["--stack", "nosuchstack", "--", "true"], ["unknown stack", "nosuchstack"]),
    (["--layer", "/nonexistent/layer", "--", "true"], ["layer", "/nonexistent/layer"]),
    (["--memory", "4M", "--", "true"], ["memory", "minimum"]),
    (["--memory", "lots", "--", "true"], ["size", "lots"]),
    (["--network", "wormhole", "--", "true"], ["network", "wormhole"]),
    (["--", "no-such-command-xyz"], ["not found", "no-such-command-xyz"]),
    (["--workdir", "/../../etc", "--", "true"], ["escapes the rootfs"]),
    (["--workdir", "/nonexistent", "--", "true"], ["workdir", "/nonexistent"]),
    (["--user", "nosuchuser", "--", "true"], ["nosuchuser"]),
    (["--env", "NOEQUALS", "--", "true"], ["NOEQUALS"]),
    ([], ["no command"]),
    # Control characters (validate.control_char): one line naming the field, not the raw value.
    (["--workdir", "/tmp\n", "--", "true"], ["workdir", "U+000A"]),
    (["--", "sh", "-c", "echo \x1b]0;owned\x07"], ["command argument 2", "U+001B"]),
    (["--env", "A=\x01ok", "--user", "app\t", "--", "true"], ["user", "U+0009"]),
    (["--hostname", "web\n", "--", "true"], ["hostname", "valid DNS label"]),
    (["--volume", "/tmp:/da\rta", "--", "true"], ["mount destination", "U+000D"]),
])
def test_bad_input_is_refused(runner, cid, args, words):
    name = cid()
    _assert_clean_refusal(runner(args, name=name), name, words)


def _rootfs_with_link(tmp_path, link_name, target):
    root = tmp_path / "rootfs"
    for d in ("usr", "etc", "tmp", "proc", "sys", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("bin", "lib", "lib64", "sbin"):
        os.symlink(f"usr/{d}", root / d)
    os.symlink(target, root / link_name)
    return root


def test_symlink_escaping_the_rootfs_is_refused(runner, cid, tmp_path):
    root = _rootfs_with_link(tmp_path, "app", "../../../../etc")
    name = cid()
    result = runner(["--rootfs", str(root), "--volume", "/usr:/usr", "--workdir", "/app", "--", "true"], name=name)
    _assert_clean_refusal(result, name, ["symlink", "escapes the rootfs"])


def test_symlinked_mount_point_is_refused(runner, cid, tmp_path):
    root = _rootfs_with_link(tmp_path, "data", "/etc")
    os.rmdir(root / "tmp")
    os.symlink("/etc", root / "tmp")
    name = cid()
    result = runner(["--rootfs", str(root), "--volume", "/usr:/usr", "--", "true"], name=name)
    _assert_clean_refusal(result, name, ["/tmp", "symlink"])


def test_a_plain_rootfs_runs_unprivileged(runner, tmp_path):
    root = _rootfs_with_link(tmp_path, "data", "usr")
    result = runner(["--rootfs", str(root), "--volume", "/usr:/usr", "--network", "none", "--", "id", "-u"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "10000"
