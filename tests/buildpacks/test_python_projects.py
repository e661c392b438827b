"""Python apps described by pyproject.toml: a setuptools project, a uv.lock, and
pip fetched for a stack whose Python has none."""

import os
import subprocess

from paas.buildpacks.launch import process_argv
from paas.buildpacks.selection import SHIPPED_DIR

UV_PYPROJECT = """\
[project]
name = "uvapp"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["itsdangerous>=2"]
"""
# What `uv lock` writes for UV_PYPROJECT: the lock pins itsdangerous 2.2.0
# while the pyproject range alone would take the newest release.
UV_LOCK = """\
version = 1
revision = 2
requires-python = ">=3.8"

[[package]]
name = "itsdangerous"
version = "2.2.0"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.pythonhosted.org/packages/9c/cb/8ac0172223afbccb63986cc25049b154ecfb5e85932587206f42317be31d/itsdangerous-2.2.0.tar.gz", hash = "sha256:e0050c0b7da1eea53ffaf149c0cfbb5c6e2e2b69c4bef22c81fa6eb73e5f6173", size = 54410 }
wheels = [
    { url = "https://files.pythonhosted.org/packages/04/96/92447566d16df59b2a776c0fb82dbc4d9e07cd95062562af01e408583fc4/itsdangerous-2.2.0-py3-none-any.whl", hash = "sha256:c6242fc49e35958c8b15141343aa660db5fc54d4f13a1db01a3f5891b98700ef", size = 16234 },
]

[[package]]
name = "uvapp"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "itsdangerous" },
]

[package.metadata]
requires-dist = [{ name = "itsdangerous", specifier = ">=2" }]
"""
WSGI_APP = """\
def app(environ, start_response):
    import itsdangerous
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("itsdangerous " + itsdangerous.__name__).encode()]
"""


def test_uv_lock_is_installed_as_locked(builder, make_app, serve, get):
    src = make_app({"pyproject.toml": UV_PYPROJECT, "uv.lock": UV_LOCK, "app.py": WSGI_APP})
    slug = builder(src)
    assert "-----> Installing dependencies from uv.lock with pip" in builder.lines
    assert any("itsdangerous==2.2.0" in line for line in builder.lines)
    assert slug.process_types == {"web": "gunicorn --bind 0.0.0.0:$PORT app:app"}
    with serve(slug) as (url, proc):
        assert get(url + "/", proc) == (200, "itsdangerous itsdangerous")
    # The export is the same on the next build, so the installed tree is reused.
    builder(src)
    assert "-----> Reusing installed dependencies from the build cache (uv.lock unchanged)" in builder.lines


def test_setuptools_project_is_installed_with_its_scripts(builder, make_app, tmp_path):
    src = make_app({
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "hello-proj"\nversion = "0.1.0"\ndependencies = ["itsdangerous>=2"]\n\n'
            '[project.scripts]\nhello = "hello:main"\n'
        ),
        "hello/__init__.py": "def main():\n    import itsdangerous\n    print('hello via', itsdangerous.__name__)\n",
        "Procfile": "worker: hello\n",
    })
    slug = builder(src)
    assert slug.process_types == {"worker": "hello"}
    app_dir = tmp_path / "unpacked"
    app_dir.mkdir()
    subprocess.run(["tar", "-xzf", slug.path, "-C", str(app_dir)], check=True)
    # The console script runs from the unpacked slug, wherever it is.
    result = subprocess.run(process_argv("hello"), cwd=app_dir, capture_output=True, text=True, timeout=60,
                            env={"HOME": str(app_dir), "PATH": "/usr/bin:/bin"})
    assert result.stdout == "hello via itsdangerous\n", result.stderr


def test_pip_is_fetched_for_a_python_without_it(tmp_path):
    wheel = tmp_path / "cache" / "pip.whl"
    subprocess.run(["/usr/bin/python3", os.path.join(SHIPPED_DIR, "python", "lib", "getpip.py"), str(wheel)],
                   check=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    result = subprocess.run(["/usr/bin/python3", str(wheel / "pip"), "--version"],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.startswith("pip ") and str(wheel) in result.stdout
