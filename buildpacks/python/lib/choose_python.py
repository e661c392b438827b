"""Chooses the app's interpreter among the stack's python3.X: run by bin/compile in the app dir.

Requests, first found wins: `.python-version` (3.13, 3.13.2), `runtime.txt` (python-3.13.2),
`requires-python` in pyproject.toml (>=3.12, ~=3.12, ==3.13.*, <3.14, several joined by ','),
then Poetry's `python` dependency (^3.12). Without one: the newest on the stack.

Prints one line: `ok PATH VERSION FROM` or `fail MESSAGE` (naming what each stack here has, from
$PAAS_STACKS_PYTHON: "host=3.11.2 forky=3.13.15,3.14.8"). Standard library only, any Python 3.8+.
"""

import os
import re
import subprocess
import sys

VERSION = re.compile(r"^(?:python-?)?(\d+)\.(\d+)(?:\.(\d+))?$")
CLAUSE = re.compile(r"^(~=|==|!=|<=|>=|<|>|\^|~)?\s*v?(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?$")


def _first_line(path):
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    return line
    except OSError:
        return None
    return None


def _pyproject_request():
    try:
        import tomllib
    except ImportError:  # Python < 3.11: read requires-python by pattern
        tomllib = None
    try:
        with open("pyproject.toml", "rb") as f:
            raw = f.read(1 << 20)
    except OSError:
        return None, None
    if tomllib is not None:
        try:
            data = tomllib.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            return None, None
        spec = (data.get("project") or {}).get("requires-python")
        if isinstance(spec, str):
            return spec, "requires-python in pyproject.toml"
        poetry = ((data.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
        if isinstance(poetry.get("python"), str):
            return poetry["python"], "python in [tool.poetry.dependencies]"
        return None, None
    m = re.search(r'^\s*requires-python\s*=\s*"([^"]*)"', raw.decode("utf-8", "replace"), re.MULTILINE)
    return (m.group(1), "requires-python in pyproject.toml") if m else (None, None)


def request():
    """(specifier text, where it came from) or (None, None)."""
    for name in (".python-version", "runtime.txt"):
        line = _first_line(name)
        if line:
            return line, name
    return _pyproject_request()


def _clause_ok(op, want, version):
    """Does `version` (a 3-tuple) meet one clause `op want` (want: parts, '*' allowed)?"""
    fixed = [int(p) for p in want if p not in (None, "*")]
    n = len(fixed)
    head = version[:n]
    target = tuple(fixed)
    if op in (None, "==") and "*" in [p for p in want if p]:
        return head == target
    if op in (None, "=="):
        return head == target
    if op == "!=":
        return head != target
    if op == ">=":
        return head >= target
    if op == ">":
        return head > target
    if op == "<=":
        return head <= target
    if op == "<":
        return head < target
    if op == "~=":  # ~=3.12 means >=3.12,<4; ~=3.12.1 means >=3.12.1,<3.13
        return head >= target and version[:max(n - 1, 1)] == target[:max(n - 1, 1)]
    if op == "^":  # Poetry: ^3.12 means >=3.12,<4
        return head >= target and version[0] == target[0]
    if op == "~":  # Poetry: ~3.12 means >=3.12,<3.13
        return head >= target and version[:2] == (target + (0,))[:2]
    return False


def matches(spec, version):
    """Does `version` meet the specifier text? None when the text is not understood."""
    text = spec.strip()
    plain = VERSION.match(text)
    if plain:
        want = (int(plain.group(1)), int(plain.group(2)))
        return version[:2] == want
    for clause in text.replace(" ", "").split(","):
        m = CLAUSE.match(clause)
        if not m:
            return None
        if not _clause_ok(m.group(1), [m.group(2), m.group(3), m.group(4)], version):
            return False
    return True


def stack_pythons():
    """[(path, (major, minor))] of python3.X on PATH, newest first (from their names: starting
    each interpreter costs a noticeable part of a build that reuses the cache)."""
    found = {}
    for directory in os.environ.get("PATH", "").split(":"):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if re.fullmatch(r"python3\.\d+", name) and name not in found:
                path = os.path.join(directory, name)
                if os.access(path, os.X_OK):
                    found[name] = path
    result = [(path, (3, int(name.split(".")[1]))) for name, path in found.items()]
    return sorted(result, key=lambda item: item[1], reverse=True)


def _version_of(path):
    """(major, minor, patch) of an interpreter: this one's own without starting it (the usual
    choice: the stack's python3 is its newest), others by asking them."""
    if os.path.realpath(path) == os.path.realpath(sys.executable):
        return tuple(sys.version_info[:3])
    out = subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True).stdout.strip()
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(p) for p in m.groups()) if m else None


def elsewhere():
    """What each stack of the platform has, for the message when nothing here fits."""
    stacks = os.environ.get("PAAS_STACKS_PYTHON", "").split()
    return "; ".join(s.replace("=", ": ").replace(",", " ") for s in stacks if "=" in s)


def _first_fit(spec, here):
    """(path, full version) of the newest interpreter meeting spec, or None."""
    for path, minor in here:
        # A request of one minor version is decided by the name; a range may name patch levels.
        if VERSION.match(spec.strip()) and not matches(spec, minor + (0,)):
            continue
        full = _version_of(path)
        if full and matches(spec, full):
            return path, full
    return None


def choose():
    spec, source = request()
    here = stack_pythons()
    if not here:
        return "fail this stack has no python3.X; a Python app needs a stack with Python"
    if spec is not None and matches(spec, here[0][1] + (0,)) is None:
        return (f"fail {source} asks for Python '{spec}'; write a version such as 3.11 or 3.11.2, "
                "or a range such as >=3.12")
    fit = _first_fit(spec, here) if spec is not None else (here[0][0], _version_of(here[0][0]))
    if fit and fit[1]:
        path, version = fit
        return f"ok {path} {'.'.join(map(str, version))} {source or '-'}"
    has = " ".join(f"{v[0]}.{v[1]}" for _, v in reversed(here))
    stack = os.environ.get("STACK", "")
    message = f"Python {spec} (from {source}) is not on this stack; it has: {has}{f' (stack {stack})' if stack else ''}"
    others = elsewhere()
    if others:
        message += f". Stacks here: {others} (paas stack:set NAME)"
    return "fail " + message


if __name__ == "__main__":
    print(choose())
    sys.exit(0)
