"""`.slugignore`: paths removed from the build dir before compile (Heroku's convention).

One pattern per line, `#` comments. A pattern with no slash (`*.psd`) matches
a file or directory name anywhere; one with a slash (`docs/drafts`,
`/tests`) matches a path from the app's root. Matching is fnmatch-style
(`*`, `?`, `[...]`); `*` also crosses `/` in rooted patterns, as it does in
Heroku's implementation.
"""

import fnmatch
import os
import shutil

from . import tenantfs

FILE_NAME = ".slugignore"
# Thousands of patterns; each is matched against every path of the tree.
MAX_BYTES = 64 * 1024


def read_patterns(app_dir: str) -> list[str]:
    """The patterns of app_dir/.slugignore; none when the file is missing.

    Read through tenantfs: a link, FIFO or device there, or a file over
    MAX_BYTES, fails the build with a message naming .slugignore.
    """
    raw = tenantfs.read_file(app_dir, FILE_NAME, MAX_BYTES)
    if raw is None:
        return []
    lines = raw.decode("utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def apply(app_dir: str, patterns: list[str]) -> list[str]:
    """Delete what the patterns match under app_dir; returns the removed paths, relative.

    The walk never follows a link; a matched link is removed itself (unlink
    relative to its directory), a matched directory with rmtree relative to
    its parent's descriptor, which does not follow links inside it either.
    """
    removed: list[str] = []
    if not patterns:
        return removed
    for entry in tenantfs.walk(app_dir):
        if not any(_matches(entry.rel, entry.name, p) for p in patterns):
            continue
        if entry.is_dir:
            shutil.rmtree(entry.name, dir_fd=entry.dir_fd)
            entry.prune = True
        else:
            os.unlink(entry.name, dir_fd=entry.dir_fd)
        removed.append(entry.rel)
    return removed


def _matches(rel: str, name: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if "/" in pattern:
        return fnmatch.fnmatchcase(rel, pattern.lstrip("/"))
    return fnmatch.fnmatchcase(name, pattern)
