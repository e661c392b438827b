"""Tenant uids (identity.py): the ranges, the uid of an app and of its builds, handing a tree over."""

import os
import stat
import subprocess
import sys

import pytest

from paas.runtime import identity
from paas.runtime.errors import RuntimeLayerError


def test_app_and_build_uids_come_from_the_app_id_on_disjoint_ranges():
    assert identity.app_uid(1) == identity.APP_UIDS.start + 1
    assert identity.build_uid(1) == identity.BUILD_UIDS.start + 1
    assert identity.app_uid(1) != identity.app_uid(2)
    for app_id in (1, 2, 1000, len(identity.APP_UIDS) - 1):
        assert identity.app_uid(app_id) not in identity.BUILD_UIDS
        assert identity.build_uid(app_id) not in identity.APP_UIDS
    assert identity.ANONYMOUS_BUILD_UID in identity.BUILD_UIDS
    assert identity.ANONYMOUS_BUILD_UID not in {identity.build_uid(i) for i in (1, 2, 3)}
    assert max(identity.APP_UIDS[-1], identity.BUILD_UIDS[-1]) < 2**31


@pytest.mark.parametrize("bad", [0, -1, True, "3", 1.0, None, 10**12])
def test_an_app_id_that_makes_no_uid_is_refused(bad):
    with pytest.raises(RuntimeLayerError, match="app id"):
        identity.app_uid(bad)
    with pytest.raises(RuntimeLayerError, match="app id"):
        identity.build_uid(bad)


@pytest.mark.parametrize("apps, builds, message", [
    ("0-99999", "200000-299999", "between 1 and"),
    ("5000-20000", "200000-299999", "includes uid 10000"),
    ("60000-70000", "200000-299999", "includes uid 65534"),
    ("100000-300000", "200000-299999", "overlap"),
    ("100000", "200000-299999", "START-END"),
    ("100000-99999", "200000-299999", "START-END"),
    ("100000-4294967294", "1-2", "START-END"),
    ("1e5-2e5", "200000-299999", "START-END"),
])
def test_bad_uid_ranges_are_refused_at_start_naming_the_setting(apps, builds, message):
    env = {**os.environ, "PAAS_APP_UIDS": apps, "PAAS_BUILD_UIDS": builds}
    code = "from paas.runtime import identity"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("paas.runtime.errors.RuntimeLayerError: PAAS_") and message in last, result.stderr


def test_hand_over_reowns_the_tree_clears_privilege_bits_and_follows_no_link(tmp_path):
    uid = identity.build_uid(5)
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub").mkdir(parents=True)
    outside.mkdir()
    secret = outside / "secret"
    secret.write_text("host file")
    os.chmod(secret, 0o4755)
    (tree / "tool").write_text("#!/bin/sh\n")
    os.chmod(tree / "tool", 0o6755)
    os.chmod(tree / "sub", 0o2775)
    os.symlink(secret, tree / "link-to-file")
    os.symlink(outside, tree / "link-to-dir")
    os.mkfifo(tree / "sub" / "pipe")
    changed = identity.hand_over(tree, uid)
    assert changed == 6  # the tree, tool, sub, both links, the pipe
    for path in (tree, tree / "tool", tree / "sub", tree / "link-to-file", tree / "link-to-dir", tree / "sub" / "pipe"):
        info = os.lstat(path)
        assert (info.st_uid, info.st_gid) == (uid, uid), path
        assert not info.st_mode & identity.PRIVILEGE_BITS, path
    assert stat.S_IMODE(os.lstat(tree / "tool").st_mode) == 0o755
    # What the links point at is untouched: the host's file keeps its owner and mode.
    assert (os.stat(secret).st_uid, stat.S_IMODE(os.stat(secret).st_mode)) == (0, 0o4755)
    assert os.stat(outside).st_uid == 0
    assert identity.hand_over(tree, uid) == 0  # nothing left to change


def test_hand_over_refuses_a_root_that_is_a_link_or_a_file(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "link", tmp_path / "file"):
        with pytest.raises(RuntimeLayerError, match="not a directory"):
            identity.hand_over(path, identity.build_uid(5))
    assert os.stat(tmp_path / "real").st_uid == 0


def test_account_files_name_the_uid_once_and_keep_the_rest():
    passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:10000:10000:app:/app:/bin/sh\nold:x:1000000007:1:x:/:/bin/sh\n"
    group = "root:x:0:\napp:x:10000:\n"
    files = identity.account_files(passwd, group, "app", 1000000007, "/app")
    assert files["passwd"] == "root:x:0:0:root:/root:/bin/sh\napp:x:1000000007:1000000007:app:/app:/bin/sh\n"
    assert files["group"] == "root:x:0:\napp:x:1000000007:\n"


def test_without_privilege_bits():
    assert identity.without_privilege_bits(0o106755) == 0o100755
    assert identity.without_privilege_bits(0o41777) == 0o41777  # the sticky bit is not a privilege


@pytest.mark.parametrize("user_name, workdir, message", [
    ("app\nroot", "/", "user name"),
    ("ro:ot", "/", "user name"),
    ("0day", "/", "user name"),
    ("app", "/tmp:x", "workdir"),
])
def test_a_named_user_that_would_add_passwd_lines_or_fields_is_refused(host_stack, cid, user_name, workdir, message):
    from paas.runtime import config, container
    from paas.runtime.errors import SpecError
    from paas.runtime.spec import ContainerSpec

    uid = identity.app_uid(3)
    name = cid()
    spec = ContainerSpec(command=("true",), layers=host_stack.layers, binds=host_stack.binds, workdir=workdir,
                         user=f"{uid}:{uid}", user_name=user_name, network="none", id=name)
    with pytest.raises(SpecError, match=message):
        container.create(spec)
    assert not (config.instances_dir() / name).exists()


def test_a_user_name_needs_the_uid_as_its_gid(host_stack, cid):
    from paas.runtime import container
    from paas.runtime.errors import SpecError
    from paas.runtime.spec import ContainerSpec

    from paas.runtime import config

    uid = identity.app_uid(3)
    spec = ContainerSpec(command=("true",), layers=host_stack.layers, binds=host_stack.binds, user=f"{uid}:0",
                         user_name="app", network="none", id=cid())
    with pytest.raises(SpecError, match="gid"):
        container.create(spec)
    assert not (config.instances_dir() / spec.id).exists()


@pytest.mark.parametrize("uid", [0, 10000, identity.app_uid(1), identity.BUILD_UIDS[-1] + 1])
def test_a_build_executor_refuses_a_uid_outside_the_build_range(uid):
    from paas.buildpacks.containerexec import ContainerExecutor

    with pytest.raises(RuntimeLayerError, match="not a build uid"):
        ContainerExecutor(uid=uid)


def test_an_instance_without_its_app_id_is_never_started_as_some_default_uid():
    from paas.runtime.agent import spec_for
    from paas.runtime.reconcile import Desired

    d = Desired(name="noid.web.1", app="noid", release="v1", process="web.1", command="true",
                image="sha256:" + "0" * 64)
    with pytest.raises(RuntimeLayerError, match="app id 0"):
        spec_for(d)
