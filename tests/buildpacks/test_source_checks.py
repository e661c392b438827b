"""Bad source trees and limits: escaping symlinks, size, a hanging compile."""

import os
import tarfile
import threading
import time

import pytest

from paas.buildpacks.driver import build
from paas.buildpacks.errors import BuildCancelled, BuildError, BuildTimeout
from paas.buildpacks.executor import LocalExecutor
from paas.buildpacks.sourcetree import check_source

LIMIT = 10 * 1024 * 1024


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt", "sub/../../outside.txt"])
def test_symlink_pointing_outside_the_tree_is_rejected(make_app, target):
    src = make_app({"index.html": "x", "sub/keep.txt": "k"})
    os.symlink(target, os.path.join(src, "link"))
    with pytest.raises(BuildError, match=r"symlink link -> .* points outside the repository"):
        check_source(src, LIMIT)


def test_symlink_chain_through_the_tree_root_is_rejected(make_app):
    # "here" is the tree itself, so "here/../x" lands beside the tree even
    # though its spelling stays inside.
    src = make_app({"index.html": "x"})
    os.symlink(".", os.path.join(src, "here"))
    os.symlink("here/../outside.txt", os.path.join(src, "sneaky"))
    with pytest.raises(BuildError, match="sneaky"):
        check_source(src, LIMIT)


def test_symlinks_inside_the_tree_are_kept(builder, make_app):
    src = make_app({"index.html": "x", "docs/a.html": "a"})
    os.symlink("docs/a.html", os.path.join(src, "a.html"))
    slug = builder(src)
    assert slug.buildpacks == ["static"]


def test_escaping_symlink_fails_the_build(builder, make_app):
    src = make_app({"index.html": "x"})
    os.symlink("/etc/shadow", os.path.join(src, "secrets"))
    with pytest.raises(BuildError, match="points outside the repository"):
        builder(src)


def test_source_over_the_size_limit_is_rejected(builder, make_app):
    src = make_app({"index.html": "x"})
    with open(os.path.join(src, "big.bin"), "wb") as f:
        f.truncate(2 * 1024 * 1024)
    with pytest.raises(BuildError, match=r"the pushed source is 2\.0 MB, over the slug size limit of 1\.0 MB"):
        builder(src, max_slug_bytes=1024 * 1024)


def test_compiled_app_over_the_size_limit_is_rejected(builder, make_app, tmp_path):
    # The source fits; what compile adds (the static server) does not.
    src = make_app({"index.html": "x" * 100})
    with pytest.raises(BuildError, match="the compiled app is .* over the slug size limit"):
        builder(src, max_slug_bytes=500)


def test_git_metadata_is_not_part_of_the_slug(builder, make_app):
    src = make_app({"index.html": "x", ".git/config": "[core]\n"})
    slug = builder(src)
    with tarfile.open(slug.path) as tar:
        assert not [n for n in tar.getnames() if n.startswith("./.git")]


def test_hanging_compile_is_killed_at_the_time_limit(builder, make_app, tmp_path):
    buildpacks = tmp_path / "bps"
    bin_dir = buildpacks / "hang" / "bin"
    bin_dir.mkdir(parents=True)
    pids = tmp_path / "pids"
    scripts = {
        "detect": "echo Hang\n",
        # A child in the background and the script itself both hang.
        "compile": f'sleep 300 & echo $! > {pids}\necho $$ >> {pids}\necho "-----> Hanging"\nwait\n',
        "release": "echo '---'\n",
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildTimeout, match=r"hang compile ran longer than the build time limit \(1 s\) and was killed"):
        builder(src, config={"BUILDPACK": "hang"}, buildpacks_dir=str(buildpacks), compile_timeout=1)
    assert "-----> Hanging" in builder.lines
    for pid in map(int, pids.read_text().split()):
        assert process_gone(pid, deadline=time.monotonic() + 10), f"process {pid} survived the time limit"


def process_gone(pid: int, deadline: float) -> bool:
    """True once pid no longer runs (gone, or a zombie awaiting its reaper)."""
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_cancelled_build_stops_its_compile(make_app, tmp_path):
    buildpacks = tmp_path / "bps"
    bin_dir = buildpacks / "slow" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in {"detect": "echo Slow\n", "compile": 'echo "-----> Working"\nsleep 300\n',
                       "release": "echo '---'\n"}.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cancel = threading.Event()

    def on_output(line):
        # Cancel as `paas builds:cancel` would, once compile is running.
        if line == "-----> Working":
            cancel.set()

    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildCancelled, match="the build was cancelled"):
        build(src, str(cache_dir), str(tmp_path / "s.tgz"), executor=LocalExecutor(), on_output=on_output,
              config={"BUILDPACK": "slow"}, buildpacks_dir=str(buildpacks), cancel=cancel)
    assert not (tmp_path / "s.tgz").exists()
