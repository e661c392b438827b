"""Dependency trees taken over from the previous slug (buildpacks/reuse.py): hard links, not copies,
and only for a link a buildpack left at a dependency segment pointing at the same path there."""

import os
import tarfile
from pathlib import Path

import pytest

from paas.buildpacks import layout, reuse, segments
from paas.buildpacks.errors import BuildError
from paas.buildpacks.slug import pack_slug


def previous_tree(root) -> str:
    """A previous slug's /app as an image layer holds it: a dependency tree with a subdirectory,
    a link inside it, a file big enough to make a segment, and set times and modes."""
    deps = root / ".paas" / "python"
    (deps / "flask" / "__pycache__").mkdir(parents=True)
    (deps / "flask" / "__init__.py").write_text("VERSION = 1\n")
    (deps / "flask" / "__pycache__" / "__init__.cpython-314.pyc").write_bytes(b"\x00" * 64)
    (deps / "big.bin").write_bytes(os.urandom(segments.SEGMENT_MIN_BYTES + 10))
    (deps / "bin").mkdir()
    (deps / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(deps / "bin" / "tool", 0o755)
    os.symlink("../flask/__init__.py", deps / "bin" / "link")
    for i, path in enumerate(sorted(deps.rglob("*"), reverse=True) + [deps]):
        os.utime(path, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_123_456_789 + i), follow_symlinks=False)
    return str(root)


def new_app(root, links: dict[str, str]) -> str:
    """A compiled /app whose buildpack left `links` (path -> target)."""
    (root / ".paas").mkdir(parents=True)
    (root / "app.py").write_text("print('v2')\n")
    for rel, target in links.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    return str(root)


def plan_keys(app_dir: str) -> dict:
    return segments.plan(app_dir, 1 << 30).keys


def test_a_link_to_the_previous_tree_becomes_that_tree_sharing_its_files(tmp_path):
    previous = previous_tree(tmp_path / "previous")
    app = new_app(tmp_path / "app", {".paas/python": f"{layout.PREVIOUS_DIR}/.paas/python"})

    assert reuse.materialize(app, previous) == [".paas/python"]

    old, new = tmp_path / "previous" / ".paas" / "python", tmp_path / "app" / ".paas" / "python"
    assert new.is_dir() and not new.is_symlink()
    for path in old.rglob("*"):
        twin = new / path.relative_to(old)
        before, after = os.lstat(path), os.lstat(twin)
        assert (after.st_mode, after.st_mtime_ns) == (before.st_mode, before.st_mtime_ns), path
        if path.is_file() and not path.is_symlink():
            assert after.st_ino == before.st_ino  # a hard link: no file was created
    assert os.readlink(new / "bin" / "link") == "../flask/__init__.py"
    assert os.stat(new).st_mtime_ns == os.stat(old).st_mtime_ns
    # The same segment key: the packer reuses the previous slug's compressed bytes for it.
    assert plan_keys(app)[".paas/python"] == plan_keys(previous)[".paas/python"]
    # And the slug holds the files, each once, as regular members.
    slug = tmp_path / "slug.tgz"
    pack_slug(app, str(slug), 1 << 30)
    with tarfile.open(slug) as tar:
        member = tar.getmember("./.paas/python/flask/__init__.py")
        assert member.isfile() and tar.extractfile(member).read() == b"VERSION = 1\n"


def test_the_local_executors_host_path_of_the_previous_tree_is_taken_too(tmp_path):
    previous = previous_tree(tmp_path / "previous")
    app = new_app(tmp_path / "app", {"node_modules": os.path.join(previous, "node_modules")})
    os.makedirs(os.path.join(previous, "node_modules", "express"))
    assert reuse.materialize(app, previous) == ["node_modules"]
    assert (tmp_path / "app" / "node_modules" / "express").is_dir()


@pytest.mark.parametrize("rel, target", [
    # Another path of the previous slug, a path leaving it, the host's files.
    (".paas/python", f"{layout.PREVIOUS_DIR}/.paas/python/../../../etc"),
    (".paas/python", f"{layout.PREVIOUS_DIR}/node_modules"),
    (".paas/python", "/etc"),
    # Not a dependency segment: the app's own files are never taken from the previous slug.
    ("static", f"{layout.PREVIOUS_DIR}/static"),
    ("lib/.paas/python", f"{layout.PREVIOUS_DIR}/lib/.paas/python"),
])
def test_other_links_are_left_as_they_are_and_the_packer_refuses_them(tmp_path, rel, target):
    previous = previous_tree(tmp_path / "previous")
    (tmp_path / "previous" / "static").mkdir()
    (tmp_path / "previous" / "lib" / ".paas" / "python").mkdir(parents=True)
    app = new_app(tmp_path / "app", {rel: target})
    assert reuse.materialize(app, previous) == []
    assert os.readlink(tmp_path / "app" / rel) == target
    with pytest.raises(BuildError, match="points outside /app"):
        pack_slug(app, str(tmp_path / "slug.tgz"), 1 << 30)


def test_a_dot_directory_that_is_a_link_is_not_entered(tmp_path):
    previous = previous_tree(tmp_path / "previous")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "python").mkdir(parents=True)
    os.symlink(f"{layout.PREVIOUS_DIR}/.paas/python", elsewhere / "python2")
    app = tmp_path / "app"
    app.mkdir()
    os.symlink(elsewhere, app / ".deps")
    assert reuse.materialize(str(app), previous) == []
    assert os.path.islink(elsewhere / "python2")


def test_a_link_to_a_tree_the_previous_slug_lacks_fails_the_build_clearly(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    app = new_app(tmp_path / "app", {"node_modules": f"{layout.PREVIOUS_DIR}/node_modules"})
    with pytest.raises(BuildError, match="left 'node_modules' as a link to the previous slug, which has no such"):
        reuse.materialize(app, str(previous))


def test_a_link_inside_the_previous_slug_is_not_followed_to_find_the_tree(tmp_path):
    previous = tmp_path / "previous"
    (previous / "elsewhere" / "python").mkdir(parents=True)
    os.symlink("elsewhere", previous / ".paas")
    app = new_app(tmp_path / "app", {".paas/python": f"{layout.PREVIOUS_DIR}/.paas/python"})
    with pytest.raises(BuildError, match="which has no such directory"):
        reuse.materialize(app, str(previous))


def test_without_a_previous_slug_nothing_is_taken(tmp_path):
    app = new_app(tmp_path / "app", {"node_modules": f"{layout.PREVIOUS_DIR}/node_modules"})
    assert reuse.materialize(app, None) == []
    assert os.path.islink(os.path.join(app, "node_modules"))


def test_a_previous_tree_on_another_file_system_is_copied(tmp_path):
    """link() cannot cross file systems (EXDEV): the files are copied, with their modes and times."""
    import shutil
    import tempfile

    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm is on the same file system as the test's directory here")
    other = tempfile.mkdtemp(dir="/dev/shm")
    try:
        previous = previous_tree(Path(other) / "previous")
        app = new_app(tmp_path / "app", {".paas/python": f"{layout.PREVIOUS_DIR}/.paas/python"})
        assert reuse.materialize(app, previous) == [".paas/python"]
        old = os.path.join(previous, ".paas/python/bin/tool")
        new = os.path.join(app, ".paas/python/bin/tool")
        assert os.stat(new).st_ino != os.stat(old).st_ino
        assert open(new).read() == "#!/bin/sh\n"
        assert (os.stat(new).st_mode, os.stat(new).st_mtime_ns) == (os.stat(old).st_mode, os.stat(old).st_mtime_ns)
        assert plan_keys(app)[".paas/python"] == plan_keys(previous)[".paas/python"]
    finally:
        shutil.rmtree(other)
