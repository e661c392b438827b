"""A stack's languages from its dpkg database, read again only when the file changes."""

import os

from paas.runtime import stackinfo

STATUS = """Package: python3.13
Status: install ok installed
Version: 3.13.5-2

Package: nodejs
Status: install ok installed
Version: 20.19.2+dfsg-1

Package: python3.12
Status: deinstall ok config-files
Version: 3.12.1-1
"""


def test_languages_follow_the_package_database_as_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("PAAS_RUNTIME_DIR", str(tmp_path))
    status = tmp_path / "stacks" / "probe" / "rootfs" / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    status.write_text(STATUS)
    assert stackinfo.languages("probe") == {"python": ["3.13.5"], "node": ["20.19.2"]}
    found = stackinfo.languages("probe")
    found["python"].append("mutated")  # a caller's copy: the kept answer stays as read
    assert stackinfo.languages("probe") == {"python": ["3.13.5"], "node": ["20.19.2"]}
    # An upgraded stack (dpkg rewrites the file): read again.
    new = status.with_name("status-new")
    new.write_text(STATUS.replace("3.13.5-2", "3.13.6-1") + "\nPackage: python3.14\nStatus: install ok installed\n"
                   "Version: 3.14.0-1\n")
    os.replace(new, status)
    assert stackinfo.languages("probe") == {"python": ["3.13.6", "3.14.0"], "node": ["20.19.2"]}
    status.unlink()
    assert stackinfo.languages("probe") == {"python": [], "node": []}
