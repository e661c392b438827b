"""Language versions and lock files: the Python and Node.js buildpacks' choices (host stack)."""

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from paas.buildpacks import hostenv
from paas.buildpacks.errors import BuildError

LIB = Path(__file__).resolve().parents[2] / "buildpacks" / "python" / "lib"
HOST_MINOR = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                            capture_output=True, text=True, check=True).stdout.strip()


def _load(name):
    spec = importlib.util.spec_from_file_location(name, LIB / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


choose_python = _load("choose_python")


@pytest.mark.parametrize("spec, version, expected", [
    ("3.14", (3, 14, 8), True), ("3.13.2", (3, 13, 15), True), ("python-3.13.2", (3, 14, 8), False),
    (">=3.12", (3, 14, 8), True), (">=3.12", (3, 11, 2), False), (">=3.10,<3.14", (3, 14, 8), False),
    (">=3.10, <3.14", (3, 13, 5), True), ("==3.13.*", (3, 13, 15), True), ("==3.13.*", (3, 14, 0), False),
    ("~=3.12", (3, 14, 8), True), ("~=3.12.1", (3, 13, 0), False), ("^3.12", (3, 14, 8), True),
    ("~3.13", (3, 14, 8), False), ("!=3.14.*", (3, 14, 8), False), ("latest", (3, 14, 8), None),
])
def test_specifiers(spec, version, expected):
    assert choose_python.matches(spec, version) is expected


def _chooser(app: Path, env=None) -> str:
    return subprocess.run(["/usr/bin/python3", str(LIB / "choose_python.py")], cwd=app, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **(env or {})}, check=True).stdout.strip()


def test_requires_python_picks_the_newest_fitting_interpreter(tmp_path):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nrequires-python = ">={HOST_MINOR}"\n')
    kind, path, version, source = _chooser(tmp_path).split(" ", 3)
    assert (kind, source) == ("ok", "requires-python in pyproject.toml") and version.startswith(HOST_MINOR)


def test_a_version_that_exists_nowhere_lists_every_stack(tmp_path):
    (tmp_path / ".python-version").write_text("3.7\n")
    line = _chooser(tmp_path, {"STACK": "host", "PAAS_STACKS_PYTHON": "forky=3.13.15,3.14.8 host=3.11.2"})
    assert line == (f"fail Python 3.7 (from .python-version) is not on this stack; it has: {HOST_MINOR} (stack host). "
                    "Stacks here: forky: 3.13.15 3.14.8; host: 3.11.2 (paas stack:set NAME)")


def _using_python(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("-----> Using Python "))


def test_a_warm_build_takes_the_interpreter_choice_from_the_cache_while_its_inputs_are_unchanged(builder, make_app):
    src = Path(make_app({"requirements.txt": "", ".python-version": f"{HOST_MINOR}\n", "Procfile": "web: true\n"}))
    builder(src)
    first = _using_python(builder.lines)
    kept = builder.cache_dir / "python" / "choice"
    key, choice = kept.read_text().splitlines()
    assert choice.startswith(f"ok /usr/bin/python{HOST_MINOR} {HOST_MINOR}.") and len(key) == 64
    # A kept choice with a version no interpreter has: seen in the output, so no interpreter chose again.
    kept.write_text(f"{key}\nok /usr/bin/python{HOST_MINOR} 9.9.9 .python-version\n")
    builder(src)
    assert _using_python(builder.lines) == f"-----> Using Python 9.9.9 (/usr/bin/python{HOST_MINOR})"
    # Another request is another key: chosen again, and kept.
    (src / ".python-version").write_text(f"python-{HOST_MINOR}\n")
    builder(src)
    assert _using_python(builder.lines) == first and kept.read_text().split("\n")[0] != key


@pytest.mark.parametrize("forged", ["ok /bin/sh 3.99.0 -", "ok /usr/bin/python3.11-config 3.99.0 -",
                                    "fail made up", "ok"])
def test_a_kept_choice_naming_no_interpreter_of_the_stack_is_chosen_again(builder, make_app, forged):
    src = make_app({"requirements.txt": "", "Procfile": "web: true\n"})
    builder(src)
    first = _using_python(builder.lines)
    kept = builder.cache_dir / "python" / "choice"
    original = kept.read_text()
    kept.write_text(f"{original.splitlines()[0]}\n{forged}\n")
    builder(src)
    assert _using_python(builder.lines) == first and kept.read_text() == original


def test_a_kept_choice_of_one_endless_line_is_read_no_further_and_chosen_again(builder, make_app):
    src = make_app({"requirements.txt": "", "Procfile": "web: true\n"})
    builder(src)
    first = _using_python(builder.lines)
    kept = builder.cache_dir / "python" / "choice"
    original = kept.read_text()
    kept.write_bytes(b"f" * (16 << 20))  # 16 MB and no newline, where a key of 64 characters goes
    builder(src)
    assert _using_python(builder.lines) == first and kept.read_text() == original


@pytest.mark.parametrize("planted", ["directory", "link", "fifo"])
def test_a_kept_choice_that_is_no_regular_file_is_replaced(builder, make_app, planted):
    import os

    src = make_app({"requirements.txt": "", "Procfile": "web: true\n"})
    kept = builder.cache_dir / "python" / "choice"
    kept.parent.mkdir(parents=True)
    if planted == "directory":
        (kept / "inner").mkdir(parents=True)
    elif planted == "link":
        kept.symlink_to("/etc/passwd")
    else:
        os.mkfifo(kept)
    builder(src)
    assert _using_python(builder.lines).startswith("-----> Using Python ") and kept.is_file() and not kept.is_symlink()


def test_stacks_env_names_each_stack_with_a_language():
    env = hostenv.stacks_env({"host": {"python": ["3.11.2"], "node": ["20.20.2"]},
                              "forky": {"python": ["3.13.15", "3.14.8"], "node": []}})
    assert env == {"PAAS_STACKS_PYTHON": "forky=3.13.15,3.14.8 host=3.11.2", "PAAS_STACKS_NODE": "host=20.20.2"}


POETRY_LOCK = '''
[[package]]
name = "six"
version = "1.16.0"
optional = false
groups = ["main"]

[[package]]
name = "pytest"
version = "8.0.0"
optional = false
groups = ["dev"]

[[package]]
name = "colorama"
version = "0.4.6"
optional = false
groups = ["main"]
markers = {main = "sys_platform == \\"win32\\""}
'''

PIPFILE_LOCK = '''{"_meta": {}, "default": {"six": {"version": "==1.16.0", "markers": "python_version >= '3.0'"},
 "local": {"path": "."}}, "develop": {"pytest": {"version": "==8.0.0"}}}'''


def test_poetry_and_pipfile_locks_become_pinned_requirements(tmp_path):
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK)
    (tmp_path / "Pipfile.lock").write_text(PIPFILE_LOCK)
    for lock, expected in (("poetry.lock", 'six==1.16.0\ncolorama==0.4.6 ; sys_platform == "win32"\n'),
                           ("Pipfile.lock", "six==1.16.0 ; python_version >= '3.0'\n")):
        subprocess.run([sys.executable, str(LIB / "lock_requirements.py"), lock, "out.txt"], cwd=tmp_path, check=True,
                       capture_output=True)
        assert (tmp_path / "out.txt").read_text() == expected


def test_a_lock_with_a_line_break_in_a_marker_is_refused(tmp_path):
    (tmp_path / "Pipfile.lock").write_text('{"default": {"six": {"version": "==1.16.0", "markers": "x\\n-e evil"}}}')
    result = subprocess.run([sys.executable, str(LIB / "lock_requirements.py"), "Pipfile.lock", "out.txt"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout.startswith("Pipfile.lock cannot be read: the markers of six")


def test_a_poetry_app_installs_its_locked_main_group(builder, make_app):
    src = make_app({"pyproject.toml": '[tool.poetry]\nname = "x"\n', "poetry.lock": POETRY_LOCK.replace(
        'name = "colorama"', 'name = "colorama-not-here"')})
    slug = builder(src)
    assert "-----> Reading poetry.lock" in builder.lines
    with tarfile.open(slug.path) as tar:
        names = tar.getnames()
    assert "./.paas/python/six.py" in names and not any("pytest" in n for n in names)


def test_nvmrc_the_stack_cannot_meet_fails_naming_the_stacks(builder, make_app):
    src = make_app({"package.json": '{"name": "x", "version": "1.0.0"}', ".nvmrc": "v12\n"})
    with pytest.raises(BuildError, match=r"^nodejs compile failed: \.nvmrc asks for Node\.js v12; this stack has v[\d.]+"
                                         r"\. Stacks here: forky: 24\.21\.0 \(paas stack:set NAME\)$"):
        builder(src, stacks_languages={"forky": {"python": [], "node": ["24.21.0"]}})


@pytest.mark.parametrize("line", ["-o APT::Get::AllowUnauthenticated=true", "https://example.com/x.deb", "jq*"])
def test_an_aptfile_line_that_is_not_a_package_name_fails_before_apt_runs(builder, make_app, line):
    src = make_app({"Aptfile": f"jq\n{line}\n", "index.html": "hi"})
    with pytest.raises(BuildError, match=r"^apt compile failed: Aptfile: '.*' is not a Debian package name"):
        builder(src)


def test_an_aptfile_on_a_stack_without_apt_sources_says_so(builder, make_app, tmp_path):
    from paas.buildpacks.containerexec import ContainerExecutor

    src = make_app({"Aptfile": "jq\n", "index.html": "hi"})
    work = tmp_path / "work"
    work.mkdir()
    executor = ContainerExecutor(stack="host", name="ap", build_dirs=(str(work), str(builder.cache_dir)))
    with pytest.raises(BuildError, match=r"Aptfile needs a Debian stack with apt sources \(forky, trixie\): "
                                         r"this stack \(host\) has none"):
        builder(src, executor=executor, work_dir=str(work))
