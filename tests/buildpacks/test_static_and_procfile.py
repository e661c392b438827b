"""Static sites and Procfile-only apps: built, started from the slug, fetched."""

import os
import stat

import pytest

from paas.buildpacks.errors import BuildError


def test_static_site_is_served_without_its_hidden_files(builder, make_app, serve, get):
    src = make_app({"index.html": "<h1>static hello</h1>\n", "css/site.css": "h1 {}\n", ".env": "SECRET=1\n"})
    slug = builder(src)
    assert "-----> Static site app detected" in builder.lines
    assert slug.process_types == {"web": "python3 .paas/static/server.py"}
    with serve(slug) as (url, proc):
        assert get(url + "/", proc) == (200, "<h1>static hello</h1>\n")
        assert get(url + "/css/site.css", proc) == (200, "h1 {}\n")
        assert get(url + "/.env", proc)[0] == 404
        assert get(url + "/.profile.d/", proc)[0] == 404
        assert get(url + "/css/", proc)[0] == 404


def test_procfile_only_app_runs_its_script(builder, make_app, serve, get):
    src = make_app({
        "Procfile": "web: ./serve.sh\n",
        "serve.sh": "#!/bin/sh\nexec python3 -m http.server \"$PORT\" --bind 127.0.0.1\n",
        "hello.txt": "hello from a script\n",
    })
    os.chmod(os.path.join(src, "serve.sh"), 0o755)
    slug = builder(src)
    assert "-----> Procfile app detected" in builder.lines
    assert slug.process_types == {"web": "./serve.sh"}
    with serve(slug) as (url, proc):
        assert get(url + "/hello.txt", proc) == (200, "hello from a script\n")


def test_procfile_app_warns_about_scripts_without_the_executable_bit(builder, make_app):
    src = make_app({"Procfile": "worker: bash work.sh\n", "work.sh": "echo hi\n"})
    assert not os.stat(os.path.join(src, "work.sh")).st_mode & stat.S_IXUSR
    builder(src)
    assert any(line.strip() == "./work.sh" for line in builder.lines)


def test_procfile_syntax_error_fails_before_compile(builder, make_app):
    src = make_app({"Procfile": "web: ./serve.sh\nthis line has no colon\n"})
    with pytest.raises(BuildError, match=r"Procfile line 2: expected 'type: command'"):
        builder(src)
    assert not any("detected" in line for line in builder.lines)


def test_missing_web_process_is_refused_when_required(builder, make_app):
    src = make_app({"Procfile": "worker: ./work.sh\n"})
    with pytest.raises(BuildError, match="no web process"):
        builder(src, require_web=True)
