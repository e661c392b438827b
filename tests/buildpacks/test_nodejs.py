"""Real builds of a Node.js (Express) app with the local executor and npm."""

import json
import os
import subprocess
import tarfile

import pytest

from paas.buildpacks.errors import BuildError

SERVER_JS = """\
const express = require("express");
const app = express();
app.get("/", (req, res) => res.send("hello from express"));
app.listen(process.env.PORT, () => console.log("listening on " + process.env.PORT));
"""
PACKAGE = {
    "name": "hello-express",
    "version": "1.0.0",
    "private": True,
    "scripts": {"start": "node server.js"},
    "dependencies": {"express": "^4.21.0"},
}


@pytest.fixture
def express_app(make_app):
    src = make_app({"package.json": json.dumps(PACKAGE, indent=2), "server.js": SERVER_JS})
    # A real lockfile, resolved from the registry without installing anything.
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
        cwd=src, check=True, capture_output=True, timeout=120,
    )
    return src


def test_express_app_builds_with_npm_ci_and_answers(builder, express_app, serve, get):
    slug = builder(express_app)
    assert "-----> Node.js app detected" in builder.lines
    assert "-----> Installing dependencies from package-lock.json with npm ci" in builder.lines
    assert slug.process_types == {"web": "node server.js"}  # the start script, without npm in between
    assert slug.default_env["PATH"].startswith("/app/node_modules/.bin:")
    with serve(slug) as (url, proc):
        assert get(url + "/", proc) == (200, "hello from express")


def test_second_build_reuses_node_modules_and_the_npm_cache(builder, express_app):
    builder(express_app)
    cache = builder.cache_dir / "nodejs"
    assert (cache / "node_modules" / "express" / "package.json").is_file()
    assert os.listdir(cache / "npm")
    builder(express_app)
    assert ("-----> Reusing node_modules from the build cache "
            "(package.json and package-lock.json unchanged)") in builder.lines
    assert not any("npm ci" in line for line in builder.lines)


def test_engines_the_stack_cannot_meet_fail_the_build(builder, make_app):
    src = make_app({"package.json": json.dumps({"name": "old", "engines": {"node": "12.x"}})})
    with pytest.raises(BuildError, match=r"package.json asks for Node.js 12.x .*this stack has v\d+"):
        builder(src)


def test_invalid_package_json_fails_clearly(builder, make_app):
    src = make_app({"package.json": "{not json"})
    with pytest.raises(BuildError, match="package.json is not valid JSON"):
        builder(src)


def test_unchanged_node_modules_come_from_the_last_slug_and_the_cache_keeps_no_copy(builder, express_app, tmp_path):
    """With the last slug's tree given and no build script, node_modules is taken from it (hard
    links, buildpacks/reuse.py) and the cache keeps no tree of its own; a changed lock installs again."""
    empty = tmp_path / "no-previous"
    empty.mkdir()
    first, second = tmp_path / "first-app", tmp_path / "second-app"
    builder(express_app, previous_dir=str(empty), keep_app_dir=str(first))
    assert "-----> Installing dependencies from package-lock.json with npm ci" in builder.lines
    assert not (builder.cache_dir / "nodejs" / "node_modules").exists()
    assert (first / ".paas" / "nodejs.key").is_file()

    slug = builder(express_app, previous_dir=str(first), keep_app_dir=str(second))
    assert ("-----> Reusing node_modules from the last build "
            "(package.json and package-lock.json unchanged)") in builder.lines
    assert not any("npm ci" in line for line in builder.lines)
    express = os.path.join("node_modules", "express", "package.json")
    assert os.stat(second / express).st_ino == os.stat(first / express).st_ino
    with tarfile.open(slug.path) as tar:
        assert "./node_modules/express/package.json" in tar.getnames()

    # The app wrote another key into its slug (or the lock changed): installed again.
    (second / ".paas" / "nodejs.key").write_text("0" * 64 + "\n")
    builder(express_app, previous_dir=str(second))
    assert "-----> Installing dependencies from package-lock.json with npm ci" in builder.lines


def test_build_script_runs_and_dev_dependencies_are_pruned(builder, make_app):
    src = make_app({
        "package.json": json.dumps({
            "name": "built", "version": "1.0.0", "private": True,
            "scripts": {"build": "node build.js"},
            "devDependencies": {"is-number": "^7.0.0"},
        }),
        # The build uses the devDependency, so it must run before pruning.
        "build.js": "require('is-number'); require('fs').writeFileSync('dist.txt', 'built\\n');\n",
    })
    slug = builder(src)
    assert "-----> Installing dependencies from package.json with npm install" in builder.lines
    assert "-----> Running npm run build" in builder.lines
    assert "-----> Pruning devDependencies" in builder.lines
    # No start script and no server.js: no default web process.
    assert slug.process_types == {}
    with tarfile.open(slug.path) as tar:
        names = tar.getnames()
    assert "./dist.txt" in names
    assert not [n for n in names if n.startswith("./node_modules/is-number")]
    # The cache keeps the tree from before pruning, for the next build.
    assert (builder.cache_dir / "nodejs" / "node_modules" / "is-number").is_dir()


@pytest.mark.parametrize("scripts, files, web", [
    ({"start": "node app.js --port $PORT"}, {}, "node app.js --port $PORT"),
    ({}, {"server.js": SERVER_JS}, "node server.js"),
    ({"start": "node app.js", "prestart": "node migrate.js"}, {}, "npm start"),
    ({"start": "node app.js --name $npm_package_name"}, {}, "npm start"),
    ({}, {}, None),
])
def test_the_web_process_runs_the_start_script_without_npm_unless_npm_adds_something(builder, make_app, scripts,
                                                                                   files, web):
    package = {"name": "web-choice", "version": "1.0.0", "scripts": scripts}
    src = make_app({"package.json": json.dumps(package), "app.js": "", **files})
    slug = builder(src)
    assert slug.process_types.get("web") == web
