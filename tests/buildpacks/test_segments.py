"""Slug segments: big subtrees packed once and reused, by a key of their metadata, while unchanged."""

import os
import subprocess
import tarfile

import pytest

from paas.buildpacks import segments
from paas.buildpacks.errors import BuildError
from paas.buildpacks.slug import pack_slug


def _tree(root):
    """A compiled app: a dependency tree over SEGMENT_MIN_BYTES and the app's own small files."""
    deps = root / ".paas" / "python" / "flask"
    deps.mkdir(parents=True)
    for n in range(3):
        # Incompressible enough that the segment's bytes are well over the minimum.
        (deps / f"mod{n}.py").write_bytes(os.urandom(segments.SEGMENT_MIN_BYTES // 2))
    os.symlink("flask/mod0.py", root / ".paas" / "python" / "alias.py")
    os.link(deps / "mod1.py", deps / "same.py")
    (root / ".paas" / "bin").mkdir()
    (root / ".paas" / "bin" / "python").write_text("#!/bin/sh\n")
    (root / "app.py").write_text("VERSION = 1\n")
    (root / "Procfile").write_text("web: python app.py\n")
    return root


def _contents(path):
    """{name: (kind, mode, bytes or link target)} of a slug, read as the image store reads it."""
    found = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member).read() if member.isreg() else member.linkname
            found[member.name] = (member.type, member.mode, data)
    return found


def _tree_contents(root):
    """The same listing from the tree itself (hard links compared by content)."""
    found = {".": (tarfile.DIRTYPE, os.stat(root).st_mode & 0o7777, "")}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = "./" + os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                found[rel] = (tarfile.SYMTYPE, st.st_mode & 0o7777, os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = (tarfile.DIRTYPE, st.st_mode & 0o7777, "")
            else:
                found[rel] = (tarfile.REGTYPE, st.st_mode & 0o7777, open(path, "rb").read())
    return found


def _as_files(listing):
    """Hard links become the file they name: what an unpack gives."""
    out = {}
    for name, (kind, mode, data) in listing.items():
        if kind == tarfile.LNKTYPE:
            kind, data = tarfile.REGTYPE, listing["./" + data.removeprefix("./")][2]
        out[name] = (kind, mode, data)
    return out


def test_segment_of_names_top_entries_and_one_level_inside_dot_directories():
    assert segments.segment_of("app.py") == "app.py"
    assert segments.segment_of("node_modules/express/index.js") == "node_modules"
    assert segments.segment_of(".paas") == ".paas"
    assert segments.segment_of(".paas/python/flask/app.py") == ".paas/python"
    assert segments.segment_of(".heroku/python") == ".heroku/python"
    assert segments.segment_of("static/css/site.css") == "static"
    assert segments.reusable(".paas/python") and segments.reusable("node_modules")
    assert not segments.reusable("static") and not segments.reusable(".paas")


def test_the_key_covers_names_modes_sizes_times_and_links_but_not_bytes(tmp_path):
    root = _tree(tmp_path / "app")
    key = segments.plan(str(root), 1 << 30).keys[".paas/python"]
    mod = root / ".paas" / "python" / "flask" / "mod2.py"
    st = os.stat(mod)

    def key_after(change):
        change()
        return segments.plan(str(root), 1 << 30).keys[".paas/python"]

    same_size = bytes(b ^ 1 for b in mod.read_bytes())
    assert key_after(lambda: (mod.write_bytes(same_size), os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns)))) == key
    assert key_after(lambda: os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns + 1))) != key
    key = segments.plan(str(root), 1 << 30).keys[".paas/python"]
    assert key_after(lambda: mod.chmod(0o755)) != key
    key = segments.plan(str(root), 1 << 30).keys[".paas/python"]
    alias = root / ".paas" / "python" / "alias.py"
    assert key_after(lambda: (alias.unlink(), os.symlink("flask/mod1.py", alias))) != key
    key = segments.plan(str(root), 1 << 30).keys[".paas/python"]
    assert key_after(lambda: (root / ".paas" / "python" / "new.py").write_text("")) != key
    # The app's own files are no part of it, and small subtrees get no key.
    key = segments.plan(str(root), 1 << 30).keys[".paas/python"]
    assert key_after(lambda: (root / "app.py").write_text("VERSION = 2\n")) == key
    assert set(segments.plan(str(root), 1 << 30).keys) == {".paas/python"}


def test_a_slug_of_segments_is_one_tar_every_reader_unpacks_as_the_tree(tmp_path):
    root = _tree(tmp_path / "app")
    slug = tmp_path / "slug.tgz"
    pack_slug(str(root), str(slug), 1 << 30, str(tmp_path / "store"))
    assert _as_files(_contents(slug)) == _tree_contents(root)
    # GNU tar and gzip read the members as one stream too.
    listed = subprocess.run(["tar", "-tzf", str(slug)], capture_output=True, text=True, check=True)
    assert "./.paas/python/flask/mod0.py" in listed.stdout.split() and "./app.py" in listed.stdout.split()
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(slug) as tar:
        tar.extractall(out, filter="data")
    assert (out / ".paas" / "python" / "flask" / "same.py").read_bytes() == (
        root / ".paas" / "python" / "flask" / "mod1.py").read_bytes()


def test_an_unchanged_segment_is_copied_from_the_store_and_a_changed_one_packed_again(tmp_path):
    root = _tree(tmp_path / "app")
    store = tmp_path / "store"
    first = pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(store))
    assert len(os.listdir(store)) == 1
    # Same metadata, other bytes: the kept bytes are used (what the key promises, and the proof no
    # file of the segment was read).
    mod = root / ".paas" / "python" / "flask" / "mod2.py"
    st, old = os.stat(mod), mod.read_bytes()
    mod.write_bytes(bytes(b ^ 1 for b in old))
    os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns))
    (root / "app.py").write_text("VERSION = 2\n")
    second = pack_slug(str(root), str(tmp_path / "2.tgz"), 1 << 30, str(store))
    listing = _contents(tmp_path / "2.tgz")
    assert listing["./.paas/python/flask/mod2.py"][2] == old
    assert listing["./app.py"][2] == b"VERSION = 2\n"
    assert second != first
    # A new time: packed again, and the store holds the new segment alone.
    os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    pack_slug(str(root), str(tmp_path / "3.tgz"), 1 << 30, str(store))
    assert _contents(tmp_path / "3.tgz")["./.paas/python/flask/mod2.py"][2] == mod.read_bytes()
    assert len(os.listdir(store)) == 1
    # The same tree again: the same slug, byte for byte.
    again = pack_slug(str(root), str(tmp_path / "4.tgz"), 1 << 30, str(store))
    assert again == pack_slug(str(root), str(tmp_path / "5.tgz"), 1 << 30, str(store))


def test_the_size_limit_counts_a_reused_segment(tmp_path):
    root = _tree(tmp_path / "app")
    store = tmp_path / "store"
    pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(store))
    with pytest.raises(BuildError, match="over the slug size limit"):
        pack_slug(str(root), str(tmp_path / "2.tgz"), segments.SEGMENT_MIN_BYTES, str(store))
    assert not (tmp_path / "2.tgz").exists()


@pytest.mark.parametrize("plant", ["link_out", "fifo"])
def test_what_no_slug_may_hold_fails_the_pack_even_in_a_kept_segment(tmp_path, plant):
    """The build writes the tree: a link out of /app or a FIFO planted in an unchanged-looking
    segment is refused before any kept bytes are used."""
    root = _tree(tmp_path / "app")
    store = tmp_path / "store"
    pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(store))
    where = root / ".paas" / "python" / "flask" / "planted"
    if plant == "link_out":
        os.symlink("/etc/shadow", where)
        match = "points outside /app"
    else:
        os.mkfifo(where)
        match = "holds a FIFO"
    with pytest.raises(BuildError, match=match):
        pack_slug(str(root), str(tmp_path / "2.tgz"), 1 << 30, str(store))


def test_a_link_in_the_store_is_not_followed(tmp_path):
    """The store is the platform's, but a kept segment is opened without following a link."""
    root = _tree(tmp_path / "app")
    store = tmp_path / "store"
    pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(store))
    (kept,) = os.listdir(store)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not a segment")
    os.unlink(store / kept)
    os.symlink(secret, store / kept)
    pack_slug(str(root), str(tmp_path / "2.tgz"), 1 << 30, str(store))
    assert _as_files(_contents(tmp_path / "2.tgz")) == _tree_contents(root)
    assert not (store / kept).is_symlink()


def test_a_symlinked_segment_directory_is_packed_as_a_link(tmp_path):
    root = _tree(tmp_path / "app")
    os.symlink("python", root / ".paas" / "py")
    pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(tmp_path / "store"))
    assert _contents(tmp_path / "1.tgz")["./.paas/py"] == (tarfile.SYMTYPE, 0o777, "python")


def test_the_apps_own_big_folder_is_packed_from_its_bytes_every_time(tmp_path):
    """A bundle a build script writes with a pinned time (SOURCE_DATE_EPOCH) and the same size is
    not a dependency tree: the new bytes reach the slug."""
    root = _tree(tmp_path / "app")
    bundle = root / "static" / "app.js"
    bundle.parent.mkdir()
    bundle.write_bytes(os.urandom(segments.SEGMENT_MIN_BYTES * 2))
    os.utime(bundle, ns=(315532800 * 10**9, 315532800 * 10**9))
    store = tmp_path / "store"
    pack_slug(str(root), str(tmp_path / "1.tgz"), 1 << 30, str(store))
    new = bytes(b ^ 1 for b in bundle.read_bytes())
    bundle.write_bytes(new)
    os.utime(bundle, ns=(315532800 * 10**9, 315532800 * 10**9))
    pack_slug(str(root), str(tmp_path / "2.tgz"), 1 << 30, str(store))
    assert _contents(tmp_path / "2.tgz")["./static/app.js"][2] == new
    assert "static" not in segments.plan(str(root), 1 << 30).keys
