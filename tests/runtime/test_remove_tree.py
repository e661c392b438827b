"""container._remove_tree: how release removes an instance directory (links removed, never followed)."""

import os

from paas.runtime.container import _remove_tree


def test_removes_nested_files_and_links_without_following_them(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    top = tmp_path / "instance"
    (top / "etclayer" / "etc").mkdir(parents=True)
    (top / "etclayer" / "etc" / "hosts").write_text("h")
    (top / "scratch").mkdir()
    (top / "state.json").write_text("{}")
    os.symlink(outside, top / "link-dir")
    os.symlink(outside / "keep", top / "link-file")
    _remove_tree(str(top))
    assert not os.path.lexists(top)
    assert (outside / "keep").read_text() == "x"


def test_a_missing_directory_is_nothing_to_do(tmp_path):
    _remove_tree(str(tmp_path / "never-made"))
    assert list(tmp_path.iterdir()) == []
