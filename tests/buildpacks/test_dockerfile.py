"""Dockerfile builds: buildah in the sandboxed build container, bases pulled from a docker-registry on loopback.

The registry (Debian's docker-registry) is seeded with a base image made from the host stack's root
filesystem plus a shell (dash and its libc), pushed with the host's buildah. One build runs end to end:
pull, build (a RUN step, COPY, WORKDIR, ENV, EXPOSE, ENTRYPOINT/CMD), export, import, run on the runner.
"""

import dataclasses
import json
import os
import subprocess
import uuid

import pytest

from paas.buildpacks import dockerfile
from paas.buildpacks.containerexec import ContainerExecutor
from paas.buildpacks.errors import BuildError, BuildTimeout
from paas.buildpacks.executor import Mount
from paas.runtime import agent, config, container, identity, imageimport, images, registry
from paas.runtime.errors import ImageError
from paas.runtime.reconcile import Desired
from tests.registry import LOGIN
from tests.runtime import imagearchives

APP_ID = 12


def build(tmp_path, files: dict, lines: list, timeout: float = 300, logins=None, **options):
    source, cache, work = tmp_path / "src", tmp_path / "cache", tmp_path / "work"
    for d in (source, work):
        d.mkdir(exist_ok=True)
    for name, data in files.items():
        (source / name).write_bytes(data)
        (source / name).chmod(0o755)
    executor = ContainerExecutor(stack="host", uid=identity.build_uid(APP_ID), build_dirs=(str(tmp_path),),
                                 nesting=True, name="dfbuild")
    return dockerfile.build(str(source), str(cache), str(work), executor=executor, on_output=lines.append,
                            timeout=timeout, logins=logins, **options)


def build_step(script: str, mounts: list) -> int:
    executor = ContainerExecutor(stack="host", uid=identity.build_uid(APP_ID), network="none", nesting=True,
                                 name="dfstep")
    return executor.run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, cwd="/", mounts=mounts, timeout=60,
                        on_line=lambda line: None)


def dockerfile_text(registry_address: str, marker: str, cmd: str) -> bytes:
    return f"""
FROM {registry_address}/paas/base:1 AS base
RUN echo built-{marker} > /built.txt
COPY probe /usr/local/bin/probe
WORKDIR /srv
ENV GREETING=hello
EXPOSE 7000
ENTRYPOINT ["/usr/local/bin/probe"]
CMD ["{cmd}"]
""".encode()


def test_a_dockerfile_builds_imports_and_runs_then_rebuilds_warm(tmp_path, allow_registry):
    """A cold build, its image run; then a warm one: the steps before the change reused, the base not pulled
    again, and the layers the app has proven neither exported again (an empty stand-in in the layout) nor read
    by the import, which gives them to this app alone."""
    marker, owner, bases = uuid.uuid4().hex[:12], identity.app_uid(APP_ID), tmp_path / "bases"
    lines = []
    files = {"probe": imagearchives.probe_binary(), "Dockerfile": dockerfile_text(allow_registry, marker, "from-dockerfile")}
    result = build(tmp_path, files, lines, bases_dir=str(bases), owner=owner)
    assert any("Pulling" in line for line in lines) and any("STEP 2/8: RUN" in line for line in lines), lines
    image = imageimport.import_archive(dockerfile.open_image(result), process_types=result.process_types, owner=owner)
    warm = None
    try:
        assert image.config["cmd"] == ["from-dockerfile"] and image.config["port"] == 7000
        d = Desired(name=f"df{uuid.uuid4().hex[:10]}", app="dfapp", release="v1", process="web.1", command="", image=image.digest,
                    app_id=APP_ID)
        spec = agent.spec_for(d)
        spec = dataclasses.replace(spec, network="none", command=(*spec.command, "--", "/built.txt"))
        out = config.runtime_dir() / f"{d.name}.out"
        with open(out, "w") as stdout:
            assert container.run(spec, stdout=stdout, stderr=subprocess.STDOUT).exit_code == 0, out.read_text()
        got = set(out.read_text().splitlines())
        out.unlink()
        assert {"arg=from-dockerfile", "cwd=/srv", "env PORT=7000", "env GREETING=hello", "exists /built.txt=1",
                f"uid={identity.app_uid(APP_ID)}"} <= got

        pulled = [(p.name, p.stat().st_ino) for p in bases.iterdir()]
        lines.clear()
        files["Dockerfile"] = dockerfile_text(allow_registry, marker, "from-warm")
        result = build(tmp_path, files, lines, bases_dir=str(bases), owner=owner)
        assert [(p.name, p.stat().st_ino) for p in bases.iterdir()] == pulled
        assert any("Using cache" in line for line in lines[lines.index("STEP 2/8: RUN echo built-" + marker
                                                                       + " > /built.txt"):]), lines
        base_layer = image.layers[0][len("sha256:"):]
        assert (result.layout / "blobs" / "sha256" / base_layer).stat().st_size == 0  # a stand-in
        for other in (None, identity.app_uid(APP_ID + 1)):  # another app's import (or no app's) reads it: refused
            with pytest.raises(ImageError, match="does not match its digest"):
                imageimport.import_archive(dockerfile.open_image(result), owner=other)
        warm = imageimport.import_archive(dockerfile.open_image(result), owner=owner)
        assert warm.config["cmd"] == ["from-warm"] and warm.layers[:len(image.layers) - 1] == image.layers[:-1]
        # The base's store is the platform's: builds see it read-only, even as root of a user namespace.
        store = next(p for p in bases.iterdir() if p.is_dir())
        own = json.loads((tmp_path / "cache" / dockerfile.STORAGE / "overlay-layers" / "layers.json").read_text())
        base_id = image.layers[0][len("sha256:"):]  # a bottom layer's id is its diff_id
        assert base_id not in {layer["id"] for layer in own} and base_id in {layer.get("parent") for layer in own}
        assert build_step(f"touch /bases/{store.name}/planted || unshare -r -m sh -c "
                          f"'mount -o remount,bind,rw /bases && touch /bases/{store.name}/planted'",
                          [Mount(str(bases), "/bases", True)]) != 0
        assert not (store / "planted").exists()
    finally:
        images.gc(images.all_digests() - {image.digest} - ({warm.digest} if warm else set()))


def test_a_failing_step_and_an_unpullable_base_are_clear_errors(tmp_path, allow_registry):
    lines = []
    with pytest.raises(BuildError, match="build failed"):
        build(tmp_path, {"Dockerfile": f"FROM {allow_registry}/paas/base:1\nRUN echo oops-step >&2; exit 3\n".encode()},
              lines)
    assert any("oops-step" in line for line in lines), lines
    with pytest.raises(BuildTimeout):  # the whole step is killed: buildah, crun and the RUN's loop
        build(tmp_path, {"Dockerfile": f"FROM {allow_registry}/paas/base:1\nRUN while :; do :; done\n".encode()},
              [], timeout=3)
    with pytest.raises(BuildError, match=r"paas/missing:1.*404"):
        build(tmp_path, {"Dockerfile": f"FROM {allow_registry}/paas/missing:1\n".encode()}, [])
    with pytest.raises(BuildError, match="PAAS_REGISTRY_ALLOW"):
        build(tmp_path, {"Dockerfile": b"FROM 10.1.2.3:5000/internal/thing:1\n"}, [])
    with pytest.raises(BuildError, match="PAAS_REGISTRY_MIRROR"):
        build(tmp_path, {"Dockerfile": b"FROM python:3.12\n"}, [])


def test_a_base_behind_a_login_is_pulled_by_the_platform_and_the_build_never_sees_it(tmp_path, allow_login_registry):
    text = f"FROM {allow_login_registry}/paas/base:1\nRUN export -p\n".encode()  # dash's builtin
    with pytest.raises(BuildError, match=f"asks for a login \\(paas registry:login {allow_login_registry}\\)"):
        build(tmp_path, {"Dockerfile": text}, [])
    lines = []
    build(tmp_path, {"Dockerfile": text}, lines, logins={allow_login_registry: registry.Login(*LOGIN)})
    assert any("export PATH=" in line for line in lines), lines  # the step's environment was printed
    assert not any(LOGIN[1] in line or LOGIN[0] in line for line in lines), lines


def test_from_lines_and_references():
    text = "FROM --platform=linux/amd64 a.example:5000/x/y:1 AS builder\nFROM builder\nFROM scratch\n" \
           "from b.example/z@sha256:" + "0" * 64 + "\n"
    assert dockerfile.base_images(text) == ["a.example:5000/x/y:1", "b.example/z@sha256:" + "0" * 64]
    with pytest.raises(BuildError, match="build argument"):
        dockerfile.base_images("ARG V=1\nFROM a.example/x:$V\n")
    assert str(registry.parse("python:3.12")) == "docker.io/library/python:3.12"
    for bad in ("a.example/x:1;rm -rf /", "A.example/UPPER", "a.example/x:", "x/../y"):
        with pytest.raises(Exception, match="not an image reference"):
            registry.parse(bad)


NESTING_PROBE = r"""
id -u
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' '
unshare -r -m sh -c 'mount -t tmpfs none /tmp && echo nested-mount-ok'
unshare -r python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# keyctl(GET_KEYRING_ID, session) and ptrace(TRACEME) succeed for anyone without the filter.
for name, args in (("keyctl", (250, 0, -3, 0)), ("ptrace", (101, 0, 0, 0, 0))):
    print(name, libc.syscall(*args), os.strerror(ctypes.get_errno()))
'
"""


def test_a_nesting_build_container_gets_user_namespaces_and_nothing_more(tmp_path):
    """What nesting opens (buildah's own user namespace, mounts inside it) and what stays shut: no capability
    on the host, no_new_privs, the seccomp filter (keyctl, ptrace, bpf, ... still refused inside the namespace)."""
    lines = []
    executor = ContainerExecutor(stack="host", uid=identity.build_uid(APP_ID), network="none", nesting=True,
                                 name="nesting")
    code = executor.run(["/bin/sh", "-c", NESTING_PROBE], env={"PATH": "/usr/bin:/bin"}, cwd="/", mounts=[],
                        timeout=60, on_line=lines.append)
    assert code == 0, lines
    assert lines[0] == str(identity.build_uid(APP_ID))
    assert {"CapEff: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2", "nested-mount-ok",
            "keyctl -1 Operation not permitted", "ptrace -1 Operation not permitted"} <= set(lines), lines
    strict = ContainerExecutor(stack="host", uid=identity.build_uid(APP_ID), network="none", name="strict")
    lines.clear()
    assert strict.run(["unshare", "-r", "true"], env={"PATH": "/usr/bin:/bin"}, cwd="/", mounts=[], timeout=60,
                      on_line=lines.append) != 0


def test_links_an_earlier_build_left_in_the_cache_are_never_followed(tmp_path):
    """The build cache is the app's: a link where buildah's storage goes must not lead the host (root) to
    create or write files elsewhere, nor be bound into the build."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "cache").symlink_to(victim)
    build(tmp_path, {"Dockerfile": b"FROM scratch\nCOPY Dockerfile /Dockerfile\nCMD [\"/Dockerfile\"]\n"}, [])
    assert list(victim.iterdir()) == []
    assert (tmp_path / "cache").is_dir() and not (tmp_path / "cache").is_symlink()


def test_links_planted_in_the_cached_storage_and_image_layout_are_never_followed(tmp_path):
    """What an earlier build left in the cache (the app's): links where the storage, an old vfs storage, the
    layout's index and its blobs go are removed, never followed, by the build, the import and the pruning
    after it; a blob replaced by a link is refused, not read through it."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("a host file")
    cache = tmp_path / "cache"
    blobs = cache / dockerfile.LAYOUT / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (cache / dockerfile.STORAGE).symlink_to(victim)
    (cache / "storage").symlink_to(victim)
    (cache / dockerfile.LAYOUT / "index.json").symlink_to(victim / "keep")
    (blobs / "planted").symlink_to(victim)
    result = build(tmp_path, {"Dockerfile": b"FROM scratch\nCOPY Dockerfile /Dockerfile\nCMD [\"/Dockerfile\"]\n"}, [])
    # A docker-save manifest naming files outside the layout is not what a layout is read by.
    (cache / dockerfile.LAYOUT / "manifest.json").write_text(
        '[{"Config": "../../../victim/keep", "Layers": ["/etc/shadow"]}]')
    built = dockerfile.open_image(result)
    image = imageimport.import_archive(built, owner=identity.app_uid(APP_ID))
    try:
        dockerfile.prune(result, built)
        assert os.listdir(victim) == ["keep"] and (victim / "keep").read_text() == "a host file"
        assert {f"blobs/sha256/{name}" for name in os.listdir(blobs)} == built.names() - {"index.json"}
        top = cache / dockerfile.LAYOUT / built.refs[-1].member
        top.unlink()
        top.symlink_to(victim / "keep")
        with pytest.raises(ImageError, match="not a symbolic link"):
            imageimport.import_archive(dockerfile.open_image(result))
    finally:
        images.gc(images.all_digests() - {image.digest})
