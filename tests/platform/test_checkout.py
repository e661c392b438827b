"""Checking out a pushed tree: crafted trees cannot escape or plant git files."""

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from paas.platform.builds.checkout import checkout
from paas.platform.builds.errors import BuildRejected


def commit_tree(repo: Repo, entries: dict) -> bytes:
    """Store a tree from {name: bytes | dict} (names are raw, unchecked) and commit it."""

    def store(items: dict) -> bytes:
        tree = Tree()
        for name, value in items.items():
            if isinstance(value, dict):
                tree.add(name, 0o040000, store(value))
            else:
                blob = Blob.from_string(value)
                repo.object_store.add_object(blob)
                tree.add(name, 0o100644, blob.id)
        repo.object_store.add_object(tree)
        return tree.id

    commit = Commit()
    commit.tree = store(entries)
    commit.author = commit.committer = b"t <t@example.com>"
    commit.commit_time = commit.author_time = 0
    commit.commit_timezone = commit.author_timezone = 0
    commit.message = b"crafted"
    repo.object_store.add_object(commit)
    return commit.id


@pytest.fixture
def repo(tmp_path):
    return Repo.init_bare(str(tmp_path / "repo.git"), mkdir=True)


def test_a_plain_tree_is_written(repo, tmp_path):
    sha = commit_tree(repo, {b"app.py": b"print(1)\n", b"lib": {b"x.txt": b"x"}})
    size = checkout(repo, sha.decode(), tmp_path / "out", max_bytes=10_000)
    assert (tmp_path / "out" / "lib" / "x.txt").read_text() == "x"
    assert size == len(b"print(1)\n") + 1


@pytest.mark.parametrize("name", [b".git", b"..", b"a/b", b"."])
def test_crafted_names_are_refused(repo, tmp_path, name):
    sha = commit_tree(repo, {name: {b"hooks": {b"post-checkout": b"#!/bin/sh\ntouch /tmp/pwned\n"}}})
    with pytest.raises(BuildRejected):
        checkout(repo, sha.decode(), tmp_path / "out", max_bytes=10_000)
    assert not (tmp_path / "out" / ".git").exists()


def test_the_size_limit_is_enforced(repo, tmp_path):
    sha = commit_tree(repo, {b"big": b"x" * 5000})
    with pytest.raises(BuildRejected) as error:
        checkout(repo, sha.decode(), tmp_path / "out", max_bytes=4096)
    assert "larger than the limit" in error.value.message
