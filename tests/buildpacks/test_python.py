"""Real builds of Python apps with the local executor."""

import os
import subprocess
import tarfile

import pytest

from paas.buildpacks.errors import BuildError

FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"
"""


def test_flask_app_builds_and_its_web_process_answers(builder, make_app, serve, get):
    src = make_app({"requirements.txt": "flask\n", "app.py": FLASK_APP})
    slug = builder(src)

    assert "-----> Python app detected" in builder.lines
    assert slug.buildpacks == ["python"]
    assert slug.process_types == {"web": "gunicorn --bind 0.0.0.0:$PORT app:app"}
    # For runners that do not source .profile.d: the same settings at /app.
    assert slug.default_env["PATH"].startswith("/app/.paas/bin:/app/.paas/python/bin:")
    assert slug.default_env["PYTHONPATH"] == "/app/.paas/python"
    assert slug.size == os.path.getsize(slug.path) and len(slug.sha256) == 64
    with serve(slug) as (url, proc):
        assert get(url + "/", proc) == (200, "hello from flask")


def test_second_build_reuses_the_cache(builder, make_app):
    src = make_app({"requirements.txt": "flask\n", "app.py": FLASK_APP})
    builder(src)
    assert any("Installing dependencies from requirements.txt" in line for line in builder.lines)
    wheels = [n for d in os.listdir(builder.cache_dir / "python") if d.startswith("wheels-")
              for n in os.listdir(builder.cache_dir / "python" / d)]
    assert any(n.startswith("flask-") for n in wheels)
    assert (builder.cache_dir / "python" / "site" / "flask").is_dir()

    # Unchanged requirements: the installed tree comes from the cache, no pip run.
    builder(src)
    assert "-----> Reusing installed dependencies from the build cache (requirements.txt unchanged)" in builder.lines
    assert not any("Collecting" in line for line in builder.lines)

    # Changed requirements, all in the wheelhouse: pip installs without the index.
    with open(os.path.join(src, "requirements.txt"), "a") as f:
        f.write("# pinned later\n")
    builder(src)
    assert "       Installed from the wheels in the build cache" in builder.lines
    assert not any("Downloading" in line for line in builder.lines)

    # A new requirement: the index is asked, the known wheels still come from the cache.
    with open(os.path.join(src, "requirements.txt"), "a") as f:
        f.write("six\n")
    slug = builder(src)
    assert any("File was already downloaded" in line and "flask-" in line for line in builder.lines)
    assert any("Saved" in line and "six-" in line for line in builder.lines)
    with tarfile.open(slug.path) as tar:
        assert "./.paas/python/six.py" in tar.getnames()


def test_procfile_overrides_the_default_web_process(builder, make_app):
    src = make_app({
        "requirements.txt": "flask\n",
        "app.py": FLASK_APP,
        "Procfile": "web: flask run --port $PORT\nworker: python worker.py\n",
    })
    slug = builder(src)
    assert slug.process_types == {"web": "flask run --port $PORT", "worker": "python worker.py"}
    # No default web process was needed, so gunicorn was not added.
    assert not any("Adding gunicorn" in line for line in builder.lines)


def test_unknown_python_version_names_the_stack_versions(builder, make_app):
    src = make_app({"requirements.txt": "", ".python-version": "3.7\n"})
    with pytest.raises(BuildError, match=r"Python 3\.7 \(from \.python-version\) is not on this stack; it has: .*3\.\d+"):
        builder(src)


def test_runtime_txt_with_a_stack_version_is_used(builder, make_app):
    version = subprocess.run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    src = make_app({"requirements.txt": "", "runtime.txt": f"python-{version}\n"})
    builder(src)
    assert any(line.startswith(f"-----> Using Python {version}") for line in builder.lines)


def test_failing_dependency_install_fails_the_build_clearly(builder, make_app):
    src = make_app({"requirements.txt": "paas-no-such-package-4c1e7b==1.0\n"})
    with pytest.raises(BuildError, match="could not install dependencies from requirements.txt"):
        builder(src)
    assert any("paas-no-such-package-4c1e7b" in line for line in builder.lines)


def test_django_app_gets_collectstatic_and_a_wsgi_web_process(builder, make_app):
    src = make_app({
        "requirements.txt": "django>=4.2,<6\n",
        "manage.py": (
            "import os, sys\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site1.settings')\n"
            "from django.core.management import execute_from_command_line\n"
            "execute_from_command_line(sys.argv)\n"
        ),
        "site1/__init__.py": "",
        "site1/settings.py": (
            "import os\n"
            "SECRET_KEY = os.environ['SECRET_KEY']\n"
            "INSTALLED_APPS = ['django.contrib.staticfiles']\n"
            "STATIC_URL = '/static/'\n"
            "STATIC_ROOT = 'staticfiles'\n"
            "STATICFILES_DIRS = ['assets']\n"
        ),
        "site1/wsgi.py": (
            "import os\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site1.settings')\n"
            "from django.core.wsgi import get_wsgi_application\n"
            "application = get_wsgi_application()\n"
        ),
        "assets/site.css": "body { color: teal }\n",
    })
    # The settings read a config var: collectstatic sees the app's config.
    slug = builder(src, config={"SECRET_KEY": "build-time-secret"})
    assert "-----> Running manage.py collectstatic" in builder.lines
    assert slug.process_types["web"] == "gunicorn --bind 0.0.0.0:$PORT site1.wsgi"
    with tarfile.open(slug.path) as tar:
        assert "./staticfiles/site.css" in tar.getnames()


def test_unreadable_python_version_is_explained(builder, make_app):
    src = make_app({"requirements.txt": "", ".python-version": "latest\n"})
    with pytest.raises(BuildError, match=r"\.python-version asks for Python 'latest'; write a version such as 3\.11"):
        builder(src)


def test_unchanged_dependencies_come_from_the_last_slug_and_the_cache_keeps_no_copy(builder, make_app, tmp_path):
    """With the last slug's tree given (the platform's instances' layer), a cold build writes its
    dependencies once (none into the cache) and the next build copies them from that tree."""
    src = make_app({"requirements.txt": "flask\n", "app.py": FLASK_APP})
    empty = tmp_path / "no-previous"
    empty.mkdir()
    first = tmp_path / "first-app"
    builder(src, previous_dir=str(empty), keep_app_dir=str(first))
    assert any("Installing dependencies from requirements.txt" in line for line in builder.lines)
    assert not (builder.cache_dir / "python" / "site").exists()
    assert (first / ".paas" / "python" / "flask").is_dir() and (first / ".paas" / "python.key").is_file()

    second = tmp_path / "second-app"
    slug = builder(src, previous_dir=str(first), keep_app_dir=str(second))
    assert "-----> Reusing installed dependencies from the last build (requirements.txt unchanged)" in builder.lines
    assert not any("Collecting" in line for line in builder.lines)
    with tarfile.open(slug.path) as tar:
        assert "./.paas/python/flask/__init__.py" in tar.getnames()
    # Taken over by hard links (buildpacks/reuse.py), not copied: no file was created for it.
    kept = second / ".paas" / "python" / "flask" / "__init__.py"
    assert not (second / ".paas" / "python").is_symlink()
    assert os.stat(kept).st_ino == os.stat(first / ".paas" / "python" / "flask" / "__init__.py").st_ino

    # A last slug whose key does not match (the app wrote it, or the requirements changed): installed
    # again, from the wheelhouse alone.
    (first / ".paas" / "python.key").write_text("0" * 64 + "\n")
    builder(src, previous_dir=str(first))
    assert "       Installed from the wheels in the build cache" in builder.lines
