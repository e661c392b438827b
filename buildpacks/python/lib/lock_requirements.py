"""Turns poetry.lock or Pipfile.lock into pinned requirements for pip: run by bin/compile.

    python3 lock_requirements.py poetry.lock|Pipfile.lock OUT

Only what the app runs with: Poetry's `main` group (`category = "main"` in older locks) and
Pipfile's `default` section, each pinned to its locked version with its environment markers,
as `poetry install --only main` and `pipenv sync` would install. Optional packages (extras) and
entries that are not index packages (git, path) are left out, and said so on stderr.
Exits 1 with one line on stdout when the lock cannot be read.
"""

import json
import re
import sys

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
VERSION = re.compile(r"^[A-Za-z0-9.+!*_-]+$")


def _line(name, version, marker):
    if not NAME.match(name) or not VERSION.match(version):
        raise ValueError(f"a package entry is not a plain name and version ({name[:60]!r})")
    if marker and ("\n" in marker or "\r" in marker):
        raise ValueError(f"the markers of {name} span lines")
    return f"{name}=={version}" + (f" ; {marker}" if marker else "")


def _poetry_marker(package):
    marker = package.get("markers")
    if isinstance(marker, dict):  # Poetry 2: markers per group
        marker = marker.get("main")
    return marker if isinstance(marker, str) else ""


def from_poetry(text):
    import tomllib

    lines = []
    for package in tomllib.loads(text).get("package", []):
        groups = package.get("groups") or [package.get("category", "main")]
        if "main" not in groups:
            continue
        if package.get("optional"):
            print(f"poetry.lock: leaving out optional {package.get('name')}", file=sys.stderr)
            continue
        source = package.get("source") or {}
        if source.get("type") in ("git", "directory", "file", "url"):
            print(f"poetry.lock: leaving out {package.get('name')} ({source.get('type')} source)", file=sys.stderr)
            continue
        lines.append(_line(str(package.get("name", "")), str(package.get("version", "")), _poetry_marker(package)))
    return lines


def from_pipfile(text):
    lines = []
    for name, entry in (json.loads(text).get("default") or {}).items():
        version = entry.get("version", "") if isinstance(entry, dict) else ""
        if not version.startswith("=="):
            print(f"Pipfile.lock: leaving out {name} (not an index package pinned with ==)", file=sys.stderr)
            continue
        lines.append(_line(name, version[2:], entry.get("markers") or ""))
    return lines


def main():
    lock, out = sys.argv[1], sys.argv[2]
    try:
        with open(lock, encoding="utf-8") as f:
            text = f.read(16 << 20)
        lines = from_poetry(text) if lock.endswith("poetry.lock") else from_pipfile(text)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        print(f"{lock} cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        sys.exit(1)
    with open(out, "w") as f:
        f.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main()
