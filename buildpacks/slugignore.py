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

FILE_NAME = ".slugignore"


def read_patterns(app_dir: str) -> list[str]:
    """The patterns of app_dir/.slugignore; none when the file is missing."""
    try:
        with open(os.path.join(app_dir, FILE_NAME), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def apply(app_dir: str, patterns: list[str]) -> list[str]:
    """Delete what the patterns match under app_dir; returns the removed paths, relative."""
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(app_dir):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, app_dir)
            if not any(_matches(rel, name, p) for p in patterns):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
                dirnames.remove(name)
            else:
                os.unlink(path)
            removed.append(rel)
    return removed


def _matches(rel: str, name: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if "/" in pattern:
        return fnmatch.fnmatchcase(rel, pattern.lstrip("/"))
    return fnmatch.fnmatchcase(name, pattern)
