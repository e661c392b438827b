"""Writing a pushed commit's tree into a fresh directory, without git and its config.

Reading objects with dulwich means no hooks, no ``core.*`` settings, no filters
or attributes from the pushed repository ever run. Paths are checked component
by component so a crafted tree cannot write outside the destination.
"""

import os
import stat
from pathlib import Path

from dulwich.objects import Tree
from dulwich.repo import Repo

from paas.platform.builds.errors import BuildRejected

SUBMODULE_MODE = 0o160000


def check_component(name: bytes) -> str:
    text = name.decode("utf-8", "surrogateescape")
    if text in ("", ".", "..", ".git") or "/" in text or "\0" in text:
        raise BuildRejected(f"the pushed tree has an unsafe path component {text!r}")
    return text


def checkout(repo: Repo, commit_sha: str, dest: Path, *, max_bytes: int) -> int:
    """Write the tree of ``commit_sha`` under ``dest`` (which must be empty); return its size in bytes."""
    commit = repo[commit_sha.encode()]
    tree = repo[commit.tree]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return write_tree(repo, tree, dest, budget=[max_bytes], max_bytes=max_bytes)
    except OSError as error:
        # Duplicate names or a path through a symlink: only a crafted tree does that.
        raise BuildRejected(f"the pushed tree cannot be checked out safely: {error.strerror}: {error.filename}") from None


def write_tree(repo: Repo, tree: Tree, directory: Path, *, budget: list[int], max_bytes: int) -> int:
    total = 0
    for entry in tree.iteritems():
        name = check_component(entry.path)
        target = directory / name
        if entry.mode == SUBMODULE_MODE:
            continue  # submodules are not fetched: the push carries no objects for them
        if stat.S_ISDIR(entry.mode):
            target.mkdir()
            total += write_tree(repo, repo[entry.sha], target, budget=budget, max_bytes=max_bytes)
            continue
        blob = repo[entry.sha]
        size = blob.raw_length()
        budget[0] -= size
        if budget[0] < 0:
            raise BuildRejected(f"the pushed tree is larger than the limit of {max_bytes // (1024 * 1024)} MB")
        if stat.S_ISLNK(entry.mode):
            os.symlink(blob.as_raw_string(), target)
        else:
            write_file(target, blob.as_raw_chunks(), executable=bool(entry.mode & 0o111))
        total += size
    return total


def write_file(path: Path, chunks, *, executable: bool) -> None:
    # O_EXCL and O_NOFOLLOW: never write through something already there.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
