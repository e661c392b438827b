"""Choosing the buildpack: ordered detection, overrides, third-party buildpacks."""

import os
import shutil
import tarfile

import pytest

from paas.buildpacks.errors import BuildError
from paas.buildpacks.selection import SHIPPED_DIR, detection_order


def test_shipped_detection_order():
    assert [bp.name for bp in detection_order()] == ["python", "nodejs", "static", "procfile"]


def test_nothing_detected_lists_what_each_buildpack_looked_for(builder, make_app):
    src = make_app({"README.md": "just words\n"})
    with pytest.raises(BuildError) as info:
        builder(src)
    message = str(info.value)
    assert message.startswith("no buildpack detected this app; looked for:")
    for looked_for in ("requirements.txt", "pyproject.toml", "package.json", "index.html", "Procfile"):
        assert looked_for in message
    assert "\n" not in message


def test_first_detecting_buildpack_wins(builder, make_app):
    src = make_app({"package.json": "{}", "index.html": "<p>hi</p>", "Procfile": "web: node x.js\n"})
    slug = builder(src)
    assert slug.buildpacks == ["nodejs"]


def test_buildpack_config_var_overrides_detection(builder, make_app):
    src = make_app({"package.json": "{}", "index.html": "<p>hi</p>"})
    slug = builder(src, config={"BUILDPACK": "static"})
    assert slug.buildpacks == ["static"]
    assert "-----> Static site app detected" in builder.lines


def test_buildpacks_file_overrides_detection(builder, make_app):
    src = make_app({".buildpacks": "# use the Procfile as it is\nprocfile\n",
                    "package.json": "{}", "Procfile": "web: node server.js\n"})
    slug = builder(src)
    assert slug.buildpacks == ["procfile"]
    assert slug.process_types == {"web": "node server.js"}


def test_unknown_buildpack_name_lists_the_available_ones(builder, make_app):
    src = make_app({"index.html": "x"})
    with pytest.raises(BuildError, match=r"unknown buildpack 'ruby'; available: apt, nodejs, procfile, python, static"):
        builder(src, config={"BUILDPACK": "ruby"})


@pytest.mark.parametrize("name", ["../python", "/etc", ".hidden", "a/../../b"])
def test_buildpack_names_cannot_leave_the_buildpacks_dir(builder, make_app, name):
    src = make_app({"index.html": "x"})
    with pytest.raises(BuildError, match="is not valid"):
        builder(src, config={"BUILDPACK": name})


@pytest.fixture
def buildpacks_dir(tmp_path):
    """A buildpacks directory with the shipped buildpacks and room for third-party ones."""
    root = tmp_path / "buildpacks"
    root.mkdir()
    for name in ("python", "nodejs", "static", "procfile"):
        shutil.copytree(os.path.join(SHIPPED_DIR, name), root / name)
    shutil.copy(os.path.join(SHIPPED_DIR, "ORDER"), root / "ORDER")
    return root


def add_buildpack(root, name, detect, compile, release):
    """Write a third-party buildpack (bash scripts) under root/name."""
    bin_dir = root / name / "bin"
    bin_dir.mkdir(parents=True)
    for script, body in (("detect", detect), ("compile", compile), ("release", release)):
        path = bin_dir / script
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)


def test_third_party_buildpack_follows_the_heroku_api(builder, make_app, buildpacks_dir):
    add_buildpack(
        buildpacks_dir / "vendor", "hello",
        detect='[ -f "$1/hello.txt" ] && echo Hello && exit 0\nexit 1\n',
        compile=(
            'set -e\n'
            'echo "-----> Greeting $(cat "$3/GREETING")"\n'
            'date > "$2/stamp"\n'
            'cp "$1/hello.txt" "$1/compiled.txt"\n'
        ),
        release=(
            'cat <<YAML\n---\naddons:\n  - heroku-postgresql\nconfig_vars:\n  HELLO_MODE: loud\n'
            'default_process_types:\n  web: cat compiled.txt\n  worker: sleep 1\nYAML\n'
        ),
    )
    src = make_app({"hello.txt": "hi\n", "Procfile": "worker: ./work.sh\n"})
    slug = builder(src, config={"BUILDPACK": "vendor/hello", "GREETING": "from ENV_DIR"},
                   buildpacks_dir=str(buildpacks_dir))
    assert "-----> Hello app detected" in builder.lines
    assert "-----> Greeting from ENV_DIR" in builder.lines
    # The Procfile's worker overrides the default one; web comes from release.
    assert slug.process_types == {"web": "cat compiled.txt", "worker": "./work.sh"}
    assert slug.default_env == {"HELLO_MODE": "loud"}
    assert slug.addons == ["heroku-postgresql"]
    assert (builder.cache_dir / "stamp").is_file()
    with tarfile.open(slug.path) as tar:
        assert "./compiled.txt" in tar.getnames()
    assert slug.metadata()["buildpacks"] == ["vendor/hello"]


def test_compile_failure_reports_the_buildpacks_error_line(builder, make_app, buildpacks_dir):
    add_buildpack(buildpacks_dir, "broken", detect="echo Broken\n",
                  compile='echo "-----> Trying"\necho " !     the frobnicator is missing"\nexit 3\n',
                  release="echo '---'\n")
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildError, match="^broken compile failed: the frobnicator is missing$"):
        builder(src, config={"BUILDPACK": "broken"}, buildpacks_dir=str(buildpacks_dir))


def test_invalid_release_yaml_is_reported(builder, make_app, buildpacks_dir):
    add_buildpack(buildpacks_dir, "badyaml", detect="echo Bad\n", compile="true\n",
                  release="echo 'default_process_types: [web'\n")
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildError, match="badyaml bin/release printed invalid YAML"):
        builder(src, config={"BUILDPACK": "badyaml"}, buildpacks_dir=str(buildpacks_dir))


def test_buildpack_script_without_executable_bit_is_reported(builder, make_app, buildpacks_dir):
    add_buildpack(buildpacks_dir, "noexec", detect="echo NoExec\n", compile="true\n", release="echo '---'\n")
    (buildpacks_dir / "noexec" / "bin" / "compile").chmod(0o644)
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildError, match="noexec bin/compile could not be started: Permission denied"):
        builder(src, config={"BUILDPACK": "noexec"}, buildpacks_dir=str(buildpacks_dir))


def test_buildpack_missing_a_script_is_reported(builder, make_app, buildpacks_dir):
    add_buildpack(buildpacks_dir, "norelease", detect="echo X\n", compile="true\n", release="echo '---'\n")
    (buildpacks_dir / "norelease" / "bin" / "release").unlink()
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildError, match="buildpack 'norelease' has no bin/release"):
        builder(src, config={"BUILDPACK": "norelease"}, buildpacks_dir=str(buildpacks_dir))


def test_buildpack_urls_are_refused_with_a_hint(builder, make_app):
    src = make_app({".buildpacks": "https://github.com/heroku/heroku-buildpack-python\n", "index.html": "x"})
    with pytest.raises(BuildError, match="is a URL; buildpacks are not fetched here"):
        builder(src)


def test_release_with_an_invalid_process_type_is_refused(builder, make_app, buildpacks_dir):
    add_buildpack(buildpacks_dir, "oddnames", detect="echo Odd\n", compile="true\n",
                  release="printf -- '---\\ndefault_process_types:\\n  \"web server\": x\\n'\n")
    src = make_app({"x.txt": "x"})
    with pytest.raises(BuildError, match="oddnames bin/release: invalid process type name 'web server'"):
        builder(src, config={"BUILDPACK": "oddnames"}, buildpacks_dir=str(buildpacks_dir))


def test_config_var_names_must_be_environment_names(builder, make_app):
    src = make_app({"index.html": "x"})
    with pytest.raises(BuildError, match="config var name '../escape' is not a valid"):
        builder(src, config={"../escape": "x"})


def test_forced_buildpack_must_accept_the_app(builder, make_app):
    src = make_app({"notes.txt": "no python here"})
    with pytest.raises(BuildError, match=r"the app is not compatible with buildpack 'python': looked for requirements.txt"):
        builder(src, config={"BUILDPACK": "python"})


def test_several_buildpacks_compile_in_order_and_later_releases_win(builder, make_app, buildpacks_dir):
    for name, web in (("first", "one"), ("second", "two")):
        add_buildpack(
            buildpacks_dir, name,
            detect=f"echo {name.title()}\n",
            compile=f'echo "-----> {name} compiling"\necho {name} >> "$1/order.txt"\n',
            release=f"printf -- '---\\ndefault_process_types:\\n  web: {web}\\n  {name}: x\\n'\n",
        )
    src = make_app({"x.txt": "x"})
    slug = builder(src, config={"BUILDPACK": "first, second"}, buildpacks_dir=str(buildpacks_dir))
    assert slug.buildpacks == ["first", "second"]
    assert slug.process_types == {"web": "two", "first": "x", "second": "x"}
    detected = [line for line in builder.lines if line.endswith("app detected") or line.endswith("compiling")]
    assert detected == ["-----> First app detected", "-----> first compiling",
                        "-----> Second app detected", "-----> second compiling"]
    with tarfile.open(slug.path) as tar:
        assert tar.extractfile("./order.txt").read() == b"first\nsecond\n"
