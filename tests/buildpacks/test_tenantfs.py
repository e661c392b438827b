"""tenantfs: reading a tree a build wrote without following links or trusting a file's kind."""

import os
import stat

import pytest

from paas.buildpacks import tenantfs
from paas.buildpacks.tenantfs import TreeError

SECRET = "host-secret-line-7f3a9c"


@pytest.fixture
def host_secret(tmp_path):
    """A host file (outside the tree) holding one secret line, and a host directory holding it."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "token").write_text(SECRET + "\n")
    return host


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    return root


def _refused(root, rel, *words, max_bytes=1024):
    with pytest.raises(TreeError) as caught:
        tenantfs.read_file(str(root), rel, max_bytes)
    message = str(caught.value)
    assert SECRET not in message and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_a_regular_file_is_read_and_a_missing_one_is_none(tree):
    (tree / "sub").mkdir()
    (tree / "sub" / "Procfile").write_bytes(b"web: ./serve\n")
    assert tenantfs.read_file(str(tree), "sub/Procfile", 100) == b"web: ./serve\n"
    assert tenantfs.read_file(str(tree), "Procfile", 100) is None
    assert tenantfs.read_file(str(tree), "nodir/Procfile", 100) is None


def test_a_link_to_a_host_file_is_refused(tree, host_secret):
    os.symlink(host_secret / "token", tree / "Procfile")
    _refused(tree, "Procfile", "Procfile", "must be a regular file", "symbolic link")


def test_a_relative_link_inside_the_tree_is_refused_too(tree):
    (tree / "real").write_text("web: x\n")
    os.symlink("real", tree / "Procfile")
    _refused(tree, "Procfile", "symbolic link")


def test_a_link_at_a_directory_component_is_refused(tree, host_secret):
    os.symlink(host_secret, tree / "conf")
    _refused(tree, "conf/token", "conf", "must be a directory", "symbolic link")


def test_a_fifo_is_refused_without_blocking(tree):
    os.mkfifo(tree / "Procfile")
    _refused(tree, "Procfile", "Procfile", "a FIFO")


def test_a_device_is_refused_without_being_opened(tree):
    os.mknod(tree / "Procfile", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    _refused(tree, "Procfile", "a character device")


def test_a_directory_where_a_file_is_expected_is_refused(tree):
    (tree / "Procfile").mkdir()
    _refused(tree, "Procfile", "a directory")


def test_an_oversized_file_is_refused_without_its_content(tree):
    (tree / "Procfile").write_text("web: " + SECRET * 1000)
    message = _refused(tree, "Procfile", "Procfile", "over its limit of 1024 bytes")
    assert "web:" not in message


def test_the_root_itself_must_not_be_a_link(tmp_path, host_secret):
    os.symlink(host_secret, tmp_path / "linked-root")
    with pytest.raises(TreeError, match="cannot be opened as a directory"):
        tenantfs.read_file(str(tmp_path / "linked-root"), "token", 100)


def test_walk_yields_links_but_never_enters_a_linked_directory(tree, host_secret):
    (tree / "d").mkdir()
    (tree / "d" / "f").write_text("x")
    os.symlink(host_secret, tree / "escape")
    os.symlink("d", tree / "alias")
    seen = {e.rel: e for e in tenantfs.walk(str(tree))}
    assert sorted(seen) == ["alias", "d", "d/f", "escape"]
    assert seen["escape"].is_link and seen["alias"].is_link and seen["d"].is_dir
    assert not any(rel.startswith(("escape/", "alias/")) for rel in seen)


def test_walk_prune_skips_a_directory(tree):
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "c").write_text("x")
    found = []
    for entry in tenantfs.walk(str(tree)):
        found.append(entry.rel)
        if entry.rel == "a/b":
            entry.prune = True
    assert found == ["a", "a/b"]


def test_walk_refuses_a_tree_nested_deeper_than_the_cap(tree):
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(tenantfs.MAX_DEPTH + 2):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
    finally:
        os.close(fd)
    with pytest.raises(TreeError, match=f"nested more than {tenantfs.MAX_DEPTH} directories deep"):
        for _ in tenantfs.walk(str(tree)):
            pass


@pytest.mark.parametrize("rel, target, escapes", [
    ("a", "/etc/passwd", True),
    ("a", "..", True),
    ("d/a", "../../x", True),
    ("d/a", "../x", False),
    ("d/a", ".", False),
    ("a", "d/../..", True),
    ("a", "d/e/../f", False),
    # Lexically inside, but d/up is a link to the root: ../up/.. from d/e climbs above it.
    ("d/e/g", "../up/..", True),
    ("d/e/g", "../up/d", False),
])
def test_link_escapes(tree, rel, target, escapes):
    (tree / "d" / "e").mkdir(parents=True)
    os.symlink("..", tree / "d" / "up")
    assert tenantfs.link_escapes(str(tree), rel, target) is escapes
