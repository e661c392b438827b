"""Issue 10, items 2 and 4: what the build worker reads back from a build tree follows no link and trusts no kind.

Each test is a real build (the local executor and the build container) of an
app whose build plants something where the worker reads, and asserts the
build fails or ignores it with a clear message, the host's secret appears
nowhere (output, error, slug), and nothing changed outside the build's dirs.
"""

import json
import os
import tarfile
import uuid

import pytest

from tests.security.readback import HostileBuilds, executors, listing  # isort: skip  (sets the runtime sandbox first)

from paas.buildpacks import cache


@pytest.fixture(params=sorted(executors()))
def builds(request, tmp_path):
    return HostileBuilds(tmp_path, request.param)


@pytest.fixture
def local_builds(tmp_path):
    return HostileBuilds(tmp_path, "local")


WEB = "printf 'web: ./serve\\n' > Procfile\n"


def test_procfile_linked_to_a_host_file_is_refused(builds):
    src = builds.source(f"ln -sf {builds.host.secret_file} Procfile\n")
    builds.refused(src, "Procfile must be a regular file, not a symbolic link")


def test_procfile_linked_through_the_tree_root_is_refused(builds):
    # A relative link climbing out of /app reaches the same host file from the worker's side.
    climb = "../" * 12 + str(builds.host.secret_file).lstrip("/")
    src = builds.source(f"ln -sf {climb} Procfile\n")
    builds.refused(src, "Procfile must be a regular file, not a symbolic link")


def test_procfile_that_is_a_fifo_is_refused_without_hanging(builds):
    src = builds.source("mkfifo Procfile\n")
    builds.refused(src, "Procfile must be a regular file, not a FIFO")


def test_procfile_that_is_a_device_is_refused(local_builds):
    # Only the local executor can make a device: the build container has no CAP_MKNOD.
    src = local_builds.source("mknod Procfile c 1 3\n")
    local_builds.refused(src, "Procfile must be a regular file, not a character device")


def test_procfile_that_is_a_directory_is_refused(builds):
    src = builds.source("mkdir Procfile\n")
    builds.refused(src, "Procfile must be a regular file, not a directory")


def test_a_10_mb_procfile_line_is_refused_without_reading_it(builds):
    src = builds.source(f"printf 'web: ' > Procfile\nhead -c 10485760 /dev/zero | tr '\\000' x >> Procfile\n"
                        f"cat {builds.host.secret_file} >> Procfile 2>/dev/null || true\n")
    message = builds.refused(src, "Procfile is 10485", "bytes, over its limit of 65536 bytes")
    assert "xxxx" not in message and "xxxx" not in builds.output


def test_a_procfile_line_holding_a_secret_is_not_echoed(builds):
    # The parse error names the line and the rule, not the line's text.
    src = builds.source(f"echo '{builds.host.secret}' > Procfile\n")
    builds.refused(src, "Procfile line 1", "expected 'type: command'")


@pytest.mark.parametrize("plant, words", [
    ("ln -s {secret_file} leak\n", ["symlink 'leak'", "points outside /app"]),
    ("mkdir -p deep/er && ln -s ../../../../../../../../..{host_dir} deep/er/up\n", ["symlink 'deep/er/up'"]),
    ("ln -s {host_dir} hostdir\n", ["symlink 'hostdir'", "points outside /app"]),
    ("mkfifo pipe\n", ["holds a FIFO at 'pipe'"]),
    # Each link's own ".." stays inside; through d/up (the root) g climbs above /app.
    ("mkdir -p d/e && ln -s .. d/up && ln -s ../up/.. d/e/g\n", ["symlink 'd/e/g'", "points outside /app"]),
])
def test_a_slug_with_links_out_of_app_or_special_files_is_refused(builds, plant, words):
    src = builds.source(WEB + plant.format(secret_file=builds.host.secret_file, host_dir=builds.host.dir))
    builds.refused(src, *words)
    assert not list(builds.tmp.glob("slug-*.tgz"))  # no slug left behind


def test_a_slug_with_a_device_is_refused(local_builds):
    src = local_builds.source(WEB + "mknod dev c 1 3\n")
    local_builds.refused(src, "holds a character device at 'dev'")


def test_links_inside_the_app_stay_links_and_are_not_followed(builds):
    src = builds.source(WEB + "mkdir -p lib/real && echo hi > lib/real/file && ln -s real lib/alias"
                              " && ln -s lib/real/file top\n")
    slug = builds.build(src)
    builds.assert_nothing_leaked()
    with tarfile.open(slug.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["./lib/alias"].issym() and members["./lib/alias"].linkname == "real"
    assert members["./top"].issym()
    assert not any(name.startswith("./lib/alias/") for name in members)  # the linked directory was not entered
    with tarfile.open(slug.path) as tar:
        tar.extractall(builds.tmp / "unpacked", filter="data")  # what every host's unpack does
    assert (builds.tmp / "unpacked" / "top").read_text() == "hi\n"


def test_a_planted_cache_lock_link_creates_nothing(builds):
    target = builds.host.dir / "created-by-the-lock"
    kept = builds.host.dir / "kept"
    kept.write_text("host data\n")
    before = listing(builds.host.dir)
    plant = (WEB + f'ln -sfn {target} "$2/.lock"\nln -sfn {kept} "$2/kept"\nln -sfn {builds.host.dir} "$2/dir"\n'
             f'mkfifo "$2/fifo"\n')
    builds.build(builds.source(plant))
    builds.build(builds.source(WEB))  # the next build takes the lock with the planted links in place
    builds.assert_nothing_leaked()
    assert not os.path.lexists(target)
    cache.clear(str(builds.cache))  # removes the links themselves, never what they point at
    assert os.listdir(builds.cache) == []
    assert listing(builds.host.dir) == before


def test_slugignore_linked_to_a_host_file_is_refused(builds):
    src = builds.source(WEB)
    os.symlink(builds.host.secret_file, src / ".slugignore")
    builds.refused(src, ".slugignore", "points outside the repository")


@pytest.mark.parametrize("name", [".slugignore", ".buildpacks"])
def test_slugignore_and_buildpacks_files_must_be_regular(builds, name):
    src = builds.source(WEB, {"notes.txt": "*.md\n"})
    os.symlink("notes.txt", src / name)
    builds.refused(src, f"{name} must be a regular file, not a symbolic link")


def test_slugignore_removal_never_follows_links(builds):
    # A matched link is removed itself; the directory it points at is untouched.
    src = builds.source(WEB, {".slugignore": "*.cache\nlinked\n"})
    os.symlink("kept-dir", src / "linked")
    (src / "kept-dir").mkdir()
    (src / "kept-dir" / "a.cache").write_text("x")
    slug = builds.build(src)
    with tarfile.open(slug.path) as tar:
        names = set(tar.getnames())
    assert "./linked" not in names and "./kept-dir" in names and "./kept-dir/a.cache" not in names


@pytest.mark.parametrize("release, words", [
    ("head -c 2000000 /dev/zero | tr '\\000' a > .release.yml\n", ["printed more than 1024 KB"]),
    ("printf 'config_vars:\\n  SAFE: \"a\\\\0b\"\\n' > .release.yml\n",
     ["config var SAFE contains a control character (U+0000)"]),
    ("printf 'default_process_types:\\n  web: \"clear\\\\e[2J\"\\n' > .release.yml\n",
     ["the command of process type 'web' contains a control character (U+001B)"]),
    ("printf 'config_vars:\\n  \"A B\": x\\n' > .release.yml\n", ["config var name", "not a valid"]),
    ("printf 'default_process_types: [\\n' > .release.yml && cat {secret_file} >> .release.yml 2>/dev/null"
     " || true\n", ["printed invalid YAML"]),
])
def test_hostile_release_output_is_refused_with_the_field_named(builds, release, words):
    src = builds.source(WEB + release.format(secret_file=builds.host.secret_file))
    builds.refused(src, "hostile bin/release", *words)


def test_release_output_echoing_a_secret_is_not_quoted(local_builds):
    # With the local executor the release step can read the host file itself: the
    # YAML error still quotes nothing of what it printed.
    src = local_builds.source(WEB + f"printf 'x: [\\n' > .release.yml && cat {local_builds.host.secret_file}"
                                    " >> .release.yml\n")
    local_builds.refused(src, "printed invalid YAML at line")


# --- end to end: a real `git push` to the platform's git server and build worker -----------------


def test_a_push_whose_build_links_the_procfile_to_a_host_file_is_rejected(pusher, tmp_path, e2e_data_dir):
    from paas.platform.actions.apps import create_app
    from paas.platform.models import Build, Release

    app = create_app(pusher.user, f"readback-{uuid.uuid4().hex[:8]}")
    # A one-line host file like the admin token in the data directory.
    secret = f"paas_{uuid.uuid4().hex}"
    secret_file = e2e_data_dir / f"admin-token-{app.name}"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    package = {"name": "hostile", "version": "1.0.0", "private": True,
               "scripts": {"build": f"ln -sf {secret_file} Procfile", "start": "node -e 0"}}
    repo = pusher.repo(tmp_path / "src", {"package.json": json.dumps(package)}, app.name)
    result = pusher.push(repo)
    assert result.returncode != 0
    assert "Running npm run build" in result.stderr  # the link was planted by the build itself
    assert "Procfile must be a regular file, not a symbolic link" in result.stderr
    build = Build.objects.get(app=app)
    assert build.status == Build.FAILED
    for text in (result.stdout, result.stderr, build.output, build.error):
        assert secret not in text
    assert Release.objects.filter(app=app).count() == 1  # nothing released
    assert secret_file.read_text() == secret + "\n"


def test_output_without_newlines_reaches_the_worker_in_bounded_pieces(builds):
    # 3 MB on one line: each executor hands it over in pieces of at most 64 KB,
    # so a build cannot grow the worker's line buffer without bound.
    src = builds.source(WEB + "head -c 3145728 /dev/zero | tr '\\000' z\n")
    builds.build(src)
    pieces = [line for line in builds.lines if line.startswith("z")]
    assert sum(len(p) for p in pieces) == 3145728
    assert max(len(p) for p in pieces) <= 64 * 1024
