""".slugignore: what is removed before compile, and what stays."""

import tarfile

from paas.buildpacks.slugignore import apply, read_patterns


def test_patterns_by_name_and_by_path(make_app):
    src = make_app({
        ".slugignore": "# big stuff\n*.psd\n/docs/drafts\ntests/\n",
        "index.html": "x",
        "art/logo.psd": "p",
        "logo.psd": "p",
        "docs/drafts/a.md": "d",
        "docs/guide.md": "g",
        "tests/test_a.py": "t",
        "src/tests.py": "kept: the pattern names 'tests', not 'tests.py'",
    })
    removed = apply(src, read_patterns(src))
    assert sorted(removed) == ["art/logo.psd", "docs/drafts", "logo.psd", "tests"]


def test_build_leaves_ignored_files_out_of_the_slug(builder, make_app):
    src = make_app({".slugignore": "*.mov\n", "index.html": "x", "media/intro.mov": "m" * 1000})
    slug = builder(src)
    assert "-----> Removed 1 path(s) listed in .slugignore" in builder.lines
    with tarfile.open(slug.path) as tar:
        assert "./media/intro.mov" not in tar.getnames()
        assert "./index.html" in tar.getnames()
