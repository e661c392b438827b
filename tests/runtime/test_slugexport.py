"""A buildpack release leaves the platform: its stack plus its slug as an archive `docker load` and
`docker run` take, started as a native web instance is (its Procfile command, $PORT, /app)."""

import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from paas.runtime import config, imageexport, images, stacks
from paas.runtime.errors import ImageError
from tests.runtime import imagearchives
from tests.dockerd import answer_of_docker_run, docker_cli


def _with_libraries(root: Path, program: str) -> None:
    """Copy a host program and the shared libraries it loads into `root`, at the same paths."""
    listing = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    paths = [program] + [word for line in listing.splitlines() for word in line.split() if word.startswith("/")]
    for path in paths:
        # The skeleton links directories as the host does (lib64 -> usr/lib64): the host's real directory
        # of the name is the skeleton's too; the file goes there under its name and its real name.
        directory = root / os.path.realpath(os.path.dirname(path)).lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        for name in {os.path.basename(path), os.path.basename(os.path.realpath(path))}:
            shutil.copy(os.path.realpath(path), directory / name)


@pytest.fixture
def small_stack():
    """A stack that is a root filesystem of its own (as Debian stacks are): the host stack's skeleton and bash."""
    name = f"mini-{uuid.uuid4().hex[:6]}"
    directory = config.stacks_dir() / name
    rootfs = directory / "rootfs"
    try:
        shutil.copytree(stacks.get("host").layers[0], rootfs, symlinks=True)
        _with_libraries(rootfs, "/bin/bash")
        (directory / "stack.json").write_text(json.dumps({"layers": [str(rootfs)], "binds": []}))
        yield name
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _slug(path: Path, members: dict) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_slug_release_exports_as_its_stack_and_slug_and_runs_under_docker_run(small_stack, dockerd, tmp_path):
    slug = _slug(tmp_path / "slug.tar", {"./probe": imagearchives.probe_binary()})
    image = images.put(slug, stack=small_stack, process_types={"web": "./probe serve"})
    archive, tag = tmp_path / "release.tar", f"paas/slugexport-{uuid.uuid4().hex[:6]}:v2"
    with open(archive, "wb") as out:
        imageexport.write(image.digest, out, env={"GREETING": "from the slug"}, tag=tag)
    assert tag in docker_cli(dockerd, "load", "-i", str(archive))
    # The Procfile's command through the slug's .profile.d (launch.py), on $PORT 5000, in /app, as the
    # stacks' unprivileged "app" user.
    assert answer_of_docker_run(dockerd, tag) == f"from the slug uid={stacks.APP_UID} cwd=/app"


def test_what_cannot_be_exported_is_refused_saying_why(small_stack, tmp_path):
    on_host = images.put(_slug(tmp_path / "a.tar", {"run": b"#!/bin/sh\n"}), stack="host", process_types={"web": "./run"})
    with pytest.raises(ImageError, match="this host's own /usr"):
        imageexport.write(on_host.digest, io.BytesIO())
    climbing = images.put(_slug(tmp_path / "b.tar", {"../../etc/cron.d/x": b"* * * * * root sh\n"}), stack=small_stack,
                          process_types={"web": "./run"})
    with pytest.raises(ImageError, match="not a path inside /app"):
        imageexport.write(climbing.digest, io.BytesIO())
    silent = images.put(_slug(tmp_path / "c.tar", {"run": b"#!/bin/sh\n"}), stack=small_stack)
    with pytest.raises(ImageError, match="no web process"):
        imageexport.write(silent.digest, io.BytesIO())
