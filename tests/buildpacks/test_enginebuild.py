"""Dockerfile builds on a Docker engine (buildpacks/enginebuild.py): the session's dockerd (tests/dockerd.py),
bases from the loopback docker-registry (tests/registry.py), the result imported and run on the runner."""

import dataclasses
import subprocess
import threading
import uuid

import pytest

from paas.buildpacks import dockerbases, dockerfile, enginebuild, enginecontext, engineimages
from paas.buildpacks.errors import BuildCancelled, BuildError, BuildTimeout
from paas.runtime import agent, config, container, identity, imageimport, images
from paas.runtime.errors import ImageError
from paas.runtime.reconcile import Desired
from tests.runtime import imagearchives
from tests.waiting import wait_for

APP_ID = 13


def engine_build(dockerd, tmp_path, files: dict, lines: list, *, app="engapp", timeout: float = 300, **options):
    source, work = tmp_path / "src", tmp_path / f"work-{uuid.uuid4().hex[:6]}"
    for d in (source, work):
        d.mkdir(exist_ok=True)
    for name, data in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, tuple):  # ("link", target)
            path.symlink_to(data[1])
            continue
        path.write_bytes(data)
        path.chmod(0o755)
    engine = enginebuild.Engine(dockerd, app, APP_ID, memory_mb=512, max_context_bytes=options.pop("max_context", 64 << 20),
                                registry=options.pop("registry", None))
    on_output = options.pop("on_output", lines.append)
    if "network" in options:  # the engine's own call, to name another network
        return engine.build_image(str(source), str(work), on_output=on_output, timeout=timeout, **options)
    return dockerfile.build(str(source), str(tmp_path / "cache"), str(work), executor=engine, on_output=on_output,
                            timeout=timeout, **options)


def api_of(dockerd):
    import docker

    return docker.APIClient(base_url=dockerd, version="auto", timeout=60)


def test_a_dockerfile_builds_on_the_engine_imports_and_runs_then_rebuilds_warm(tmp_path, dockerd, allow_registry):
    """The engine builds it (a RUN step, COPY, WORKDIR, ENV, EXPOSE, ENTRYPOINT/CMD), its image is imported
    into the store and runs on the runner; the next build reuses the unchanged steps, and the base's layers
    (the app's, proven) are neither written out again nor read by the import."""
    marker, owner = uuid.uuid4().hex[:12], identity.app_uid(APP_ID)
    files = {"probe": imagearchives.probe_binary(),
             "Dockerfile": dockerfile_text(allow_registry, marker, "from-engine"),
             ".dockerignore": b"secret.txt\n", "secret.txt": b"left out"}
    lines = []
    result = engine_build(dockerd, tmp_path, files, lines, bases_dir=str(tmp_path / "bases"), owner=owner)
    assert any("Pulling" in line for line in lines) and any("Step 2/11 : RUN echo built-" in line for line in lines), lines
    image = imageimport.import_archive(dockerfile.open_image(result), process_types=result.process_types, owner=owner)
    warm = None
    try:
        assert image.config["cmd"] == ["from-engine"] and image.config["port"] == 7000
        got = run_probe(image, "/built.txt", "/srv/ctx/secret.txt", "/srv/ctx/probe")
        assert {"arg=from-engine", "cwd=/srv", "env PORT=7000", "env GREETING=hello", "exists /built.txt=1",
                "exists /srv/ctx/secret.txt=0", "exists /srv/ctx/probe=1", f"uid={owner}"} <= got, got

        lines.clear()
        files["Dockerfile"] = dockerfile_text(allow_registry, marker, "from-warm")
        result = engine_build(dockerd, tmp_path, files, lines, bases_dir=str(tmp_path / "bases"), owner=owner)
        step = lines.index(next(line for line in lines if line.startswith("Step 2/11 : RUN")))
        assert lines[step + 1].strip() == "---> Using cache", lines
        assert not any("Pulling" in line and "Step" in line for line in lines)
        base_layer = image.layers[0].removeprefix("sha256:")
        assert (result.layout / "blobs" / "sha256" / base_layer).stat().st_size == 0  # a stand-in
        with pytest.raises(ImageError, match="does not match its digest"):  # another app's import reads it: refused
            imageimport.import_archive(dockerfile.open_image(result), owner=identity.app_uid(APP_ID + 1))
        warm = imageimport.import_archive(dockerfile.open_image(result), owner=owner)
        assert warm.config["cmd"] == ["from-warm"] and warm.layers[:len(image.layers) - 1] == image.layers[:-1]
        # Only the app's last image stays tagged in the engine (its steps are the next build's cache).
        tagged = [t for i in api_of(dockerd).images() for t in i.get("RepoTags") or [] if t.startswith("paas-build/engapp")]
        assert tagged == [enginebuild.cache_tag("engapp", APP_ID)]
    finally:
        images.gc(images.all_digests() - {image.digest} - ({warm.digest} if warm else set()))


def dockerfile_text(registry_address: str, marker: str, cmd: str) -> bytes:
    return f"""
FROM {registry_address}/paas/base:1 AS base
RUN echo built-{marker} > /built.txt
COPY probe /usr/local/bin/probe
WORKDIR /srv
COPY . /srv/ctx/
ENV GREETING=hello
EXPOSE 7000
ENTRYPOINT ["/usr/local/bin/probe"]
CMD ["{cmd}"]
RUN true
""".encode()


def run_probe(image, *paths) -> set[str]:
    d = Desired(name=f"eb{uuid.uuid4().hex[:10]}", app="engapp", release="v1", process="web.1", command="",
                image=image.digest, app_id=APP_ID)
    spec = agent.spec_for(d)
    spec = dataclasses.replace(spec, network="none", command=(*spec.command, "--", *paths))
    out = config.runtime_dir() / f"{d.name}.out"
    try:
        with open(out, "w") as stdout:
            assert container.run(spec, stdout=stdout, stderr=subprocess.STDOUT).exit_code == 0, out.read_text()
        return set(out.read_text().splitlines())
    finally:
        out.unlink(missing_ok=True)


def test_engine_build_failures_are_clear_errors_and_leave_nothing_running(tmp_path, dockerd, allow_registry):
    base = f"FROM {allow_registry}/paas/base:1\n"
    lines = []
    with pytest.raises(BuildError, match="build failed: The command .* returned a non-zero code: 3"):
        engine_build(dockerd, tmp_path, {"Dockerfile": (base + f"RUN echo {uuid.uuid4().hex} > /a\n"
                                                        "RUN echo oops-step >&2; exit 3\n").encode()}, lines)
    assert any("oops-step" in line for line in lines), lines
    # The image of the step that worked is gone with the failed build (never a cache: only the app's last image is).
    made = [line.removeprefix(" ---> ") for line in lines if line.startswith(" ---> ") and len(line) == 18]
    assert len(made) >= 2 and not {i["Id"][7:19] for i in api_of(dockerd).images(all=True)} & set(made[1:])
    with pytest.raises(BuildTimeout):  # the request is cut: the engine kills and removes the step's container
        engine_build(dockerd, tmp_path, {"Dockerfile": (base + "RUN while :; do :; done\n").encode()}, [], timeout=8)
    api = api_of(dockerd)
    wait_for(lambda: not [c for c in api.containers(all=True) if "while" in str(c.get("Command"))], 60,
             "the step's container of a cut build removed")
    cancel = threading.Event()

    def cancel_once_running(line):
        if "Running in" in line:
            cancel.set()

    with pytest.raises(BuildCancelled):
        engine_build(dockerd, tmp_path, {"Dockerfile": (base + "RUN while :; do :; done # cancelled\n").encode()}, [],
                     on_output=cancel_once_running, cancel=cancel)
    wait_for(lambda: not [c for c in api.containers(all=True) if "while" in str(c.get("Command"))], 60,
             "the step's container of a cancelled build removed")
    with pytest.raises(BuildError, match=r"paas/missing:1.*404"):
        engine_build(dockerd, tmp_path, {"Dockerfile": f"FROM {allow_registry}/paas/missing:1\n".encode()}, [])
    with pytest.raises(BuildError, match="PAAS_REGISTRY_ALLOW"):  # the engine is never asked to pull it
        engine_build(dockerd, tmp_path, {"Dockerfile": (base + "COPY --from=10.1.2.3:5000/x:1 /a /a\n").encode()}, [])
    with pytest.raises(BuildError, match="ADD of a URL"):  # the engine's daemon would fetch it on the host's network
        engine_build(dockerd, tmp_path, {"Dockerfile": (base + "ADD http://127.0.0.1:5432/ /x\n").encode()}, [])
    with pytest.raises(BuildError, match="escape directive"):
        engine_build(dockerd, tmp_path, {"Dockerfile": ("# escape=`\n" + base).encode()}, [])
    with pytest.raises(BuildError, match="build context is over"):
        engine_build(dockerd, tmp_path, {"Dockerfile": base.encode(), "big": b"x" * 70000}, [], max_context=65536)
    assert not [c for c in api.containers(all=True)]
    # A base whose config carries ONBUILD triggers (the engine would run them: an ADD of a URL among them).
    engine_build(dockerd, tmp_path, {"Dockerfile": (base + "ONBUILD ADD http://127.0.0.1:5432/ /x\n").encode()}, [])
    triggered = api.inspect_image(enginebuild.cache_tag("engapp", APP_ID))["Id"].removeprefix("sha256:")
    with pytest.raises(BuildError, match="has ONBUILD triggers"):
        engineimages.load_base(api, tmp_path / "unused.tar", dockerbases.Base("r.example/onbuild:1", triggered, "", ""))


def test_the_context_holds_links_as_links_and_refuses_what_a_tree_cannot_hold(tmp_path):
    """Made from the checked-out tree without following a link; .dockerignore honoured (never the Dockerfile)."""
    import io
    import os
    import tarfile

    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("a")
    (source / "secret.txt").write_text("s")
    (source / ".dockerignore").write_text("secret.txt\nDockerfile\n# a comment\n")
    (source / "Dockerfile").write_text("FROM scratch\n")
    (source / "link").symlink_to("/etc/shadow")
    (source / "dirlink").symlink_to("/etc")
    data = b"".join(enginecontext.context(str(source), b"FROM sent\n", 1 << 20))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"Dockerfile", ".dockerignore", "sub", "sub/a.txt", "link", "dirlink"}
        assert tar.extractfile("Dockerfile").read() == b"FROM sent\n"
        assert members["link"].issym() and members["link"].linkname == "/etc/shadow"
        assert members["dirlink"].issym() and members["dirlink"].linkname == "/etc"
    os.mkfifo(source / "fifo")
    with pytest.raises(BuildError, match="'fifo' is a FIFO: not something a build context holds"):
        b"".join(enginecontext.context(str(source), b"", 1 << 20))


def test_the_steps_run_under_the_builds_caps(tmp_path, dockerd, allow_registry):
    """Every step's container is made in the build's cgroup (its memory and pids caps over all of them: a fork
    bomb stops at BUILD_PIDS); the cgroup goes with the build."""
    from paas.buildpacks.containerexec import BUILD_PIDS

    app = f"caps{uuid.uuid4().hex[:6]}"
    group = enginebuild.BuildCgroup.__new__(enginebuild.BuildCgroup)  # where the build will put it
    group.parent = f"/{config.CGROUP_PARENT}/engine-build-{app}"
    cancel, outcome = threading.Event(), []
    text = f"FROM {allow_registry}/paas/probe:1\nRUN /usr/bin/probe serve\n".encode()

    def build():
        try:
            engine_build(dockerd, tmp_path, {"Dockerfile": text}, [], app=app, cancel=cancel)
        except BaseException as error:  # noqa: BLE001 (handed to the test's thread)
            outcome.append(error)

    def step_inside():
        return [d for d in group.dirs() for child in d.iterdir() if child.is_dir()
                and (child / "cgroup.procs").read_text().split()]

    worker = threading.Thread(target=build)
    worker.start()
    try:
        inside = wait_for(step_inside, 120, "the RUN step's processes in the build's cgroup")
        pids = next(d for d in inside if (d / "pids.max").exists())
        assert (pids / "pids.max").read_text().strip() == str(BUILD_PIDS)
    finally:
        cancel.set()
        worker.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], BuildCancelled), outcome
    assert group.dirs() == []


def test_an_engine_that_does_not_answer_is_a_clear_error(tmp_path):
    with pytest.raises(BuildError, match=r"engine of the builds \(PAAS_BUILD_DOCKER_HOST\) does not answer"):
        engine_build("unix:///nonexistent/docker.sock", tmp_path, {"Dockerfile": b"FROM scratch\n"}, [])


def test_engine_rewrite_names_every_base_by_its_id():
    ids = {"r.example/a:1": "sha256:" + "a" * 64, "r.example/b:2": "sha256:" + "b" * 64}
    text = "FROM r.example/a:1 AS one\nfrom --platform=linux/amd64 \\\n  r.example/b:2\nCOPY --from=one /x /x\n" \
           "COPY --from=r.example/b:2 /y /y\nCOPY --from=0 /z /z\n"
    got = enginebuild.rewrite(text, ids)
    assert got.splitlines() == [f"FROM {ids['r.example/a:1']} AS one", f"FROM --platform=linux/amd64 {ids['r.example/b:2']}",
                                "", "COPY --from=one /x /x", f"COPY --from={ids['r.example/b:2']} /y /y",
                                "COPY --from=0 /z /z"]
    assert dockerfile.base_images(text) == ["r.example/a:1", "r.example/b:2"]
    with pytest.raises(BuildError, match="cannot tell which image"):
        enginebuild.rewrite(text, {"r.example/a:1": ids["r.example/a:1"]})


def test_a_run_step_reaches_nothing_of_the_platform(tmp_path, dockerd, allow_registry, outside, monkeypatch):
    """The steps run on the app's build network: the host (its gateway address, its every address, a service
    listening on each), PostgreSQL and Redis are closed to them. The same probe on the host's network
    reaches them, so it would see them. Names resolve through the platform's forwarder (here asking the
    outside's DNS server, which alone knows the name)."""
    from tests.netsandbox import DNS_NAME, Listener, host_addresses

    monkeypatch.setattr(config, "DNS_UPSTREAM", (outside.address,))

    listener = Listener()
    addresses = host_addresses()
    targets = ["gateway", str(listener.port), "127.0.0.1", "5432", "127.0.0.1", "6379",
               *(word for a in addresses for word in (a, str(listener.port)))]
    text = (f"FROM {allow_registry}/paas/base:1\nCOPY probe /probe\n"
            f"RUN /probe connect {' '.join(targets)} # {uuid.uuid4().hex}\nRUN /probe dns {DNS_NAME}\n").encode()
    files = {"probe": imagearchives.probe_binary(), "Dockerfile": text}
    try:
        lines = []
        engine_build(dockerd, tmp_path, files, lines)
        got = [line for line in lines if line.startswith("connect ")]
        assert len(got) == len(targets) // 2 and all(line.endswith("=closed") for line in got), lines
        assert f"dns {DNS_NAME}=answered" in lines, lines
        lines.clear()
        engine_build(dockerd, tmp_path, files, lines, app="engnet", network="host")
        assert {f"connect {a}:{listener.port}=open" for a in addresses} | {"connect 127.0.0.1:5432=open"} <= set(lines)
    finally:
        listener.close()


def test_dockerfile_builds_go_to_the_engine_where_one_is_named(settings):
    from types import SimpleNamespace

    from paas.platform.builds.executors import get_executor

    app = SimpleNamespace(name="engapp", pk=APP_ID, stack="host")
    settings.PAAS_BUILD_DOCKER_HOST = "unix:///run/builds-engine.sock"
    engine = get_executor(app, dockerfile=True)
    assert isinstance(engine, dockerfile.ImageBuilder) and (engine.base_url, engine.app) == (
        "unix:///run/builds-engine.sock", "engapp")
    assert not isinstance(get_executor(app), dockerfile.ImageBuilder)  # buildpacks stay in build containers
    settings.PAAS_BUILD_DOCKER_HOST = ""
    assert not isinstance(get_executor(app, dockerfile=True), dockerfile.ImageBuilder)


def test_the_pipeline_builds_a_dockerfile_on_the_engine_into_the_store(tmp_path, dockerd, allow_registry, settings,
                                                                       transactional_db):
    """What the build worker runs (pipeline.build_dockerfile) with PAAS_BUILD_DOCKER_HOST set: the output in the
    build's stream, the image in the store with the app's Procfile over its CMD."""
    from django.contrib.auth import get_user_model

    from paas.platform.actions.apps import create_app
    from paas.platform.builds import pipeline
    from paas.platform.builds.output import OutputWriter, stream_key
    from paas.platform.models import Build
    from paas.platform.redis_client import get_redis

    settings.PAAS_BUILD_DOCKER_HOST, settings.PAAS_DATA_DIR = dockerd, str(tmp_path / "data")
    settings.PAAS_REDIS_PREFIX = f"test-engine-{uuid.uuid4().hex[:10]}:"
    user = get_user_model().objects.create_user(f"eng-{uuid.uuid4().hex[:6]}", "e@example.com", "correct-horse-battery")
    app = create_app(user, f"eng-{uuid.uuid4().hex[:6]}")
    made = Build.objects.create(app=app, commit="b" * 40, ref="refs/heads/main", created_by=user, status=Build.BUILDING)
    source = tmp_path / "source"
    source.mkdir()
    (source / "Dockerfile").write_text(f"FROM {allow_registry}/paas/probe:1\nENV GREETING=engine\n")
    (source / "Procfile").write_text("web: /usr/bin/probe serve\n")
    out, image = OutputWriter(made.uuid), None
    try:
        result, image = pipeline.build_dockerfile(app, source, tmp_path, str(tmp_path / "cache"), out, threading.Event())
        assert result.process_types == {"web": "/usr/bin/probe serve"} and image.process_types == result.process_types
        assert image.config["env"]["GREETING"] == "engine" and images.exists(image.digest)
        text = out.text()
        assert "Building the Dockerfile on the Docker engine" in text and "Step 2/3 : ENV GREETING=engine" in text
        assert f"Image {image.digest[7:19]}" in text
    finally:
        get_redis().delete(stream_key(made.uuid))
        if image is not None:
            images.gc(images.all_digests() - {image.digest})


def test_a_layer_the_size_of_a_proven_one_is_written_out_when_it_is_another(tmp_path, dockerd, allow_registry):
    """The export only hashes a layer the size of one the app has proven (its base, mostly); when that
    layer turns out to be another (here: a file of the same length changed), it is written out after all."""
    import tarfile

    owner, made = identity.app_uid(APP_ID + 3), []
    files = {"Dockerfile": f"FROM {allow_registry}/paas/probe:1\nCOPY marker /marker\n".encode()}
    try:
        for text in (b"first-marker", b"other-marker"):
            files["marker"] = text
            result = engine_build(dockerd, tmp_path, files, [], app="engsize", bases_dir=str(tmp_path / "bases"),
                                  owner=owner)
            made.append(imageimport.import_archive(dockerfile.open_image(result), owner=owner))
        first, second = (image.layers[-1] for image in made)
        assert first != second and images.oci_layer_size(first) == images.oci_layer_size(second)
        with tarfile.open(images.oci_layer(second).with_suffix(".tar")) as layer:
            assert layer.extractfile("marker").read() == b"other-marker"
    finally:
        images.gc(images.all_digests() - {image.digest for image in made})


# -- the build registry (buildpacks/enginepush.py) ---------------------------------------------------------


def pushed_build(dockerd, tmp_path, build_registry, files: dict, app: str, owner, lines=None):
    """An engine build of `files` for `app` through the build registry; (its result, its output)."""
    lines = [] if lines is None else lines
    result = engine_build(dockerd, tmp_path, files, lines, app=app, bases_dir=str(tmp_path / "bases"), owner=owner,
                          registry=build_registry)
    return result, lines


def counts(lines: list[str]) -> tuple[int, int, int]:
    """(layers the engine pushed, layers the registry had, layers fetched back) as the build's output says."""
    import re

    pushed = next(m.groups() for line in lines if (m := re.match(r"-----> Pushed (\d+) new layer.*\((\d+) there", line)))
    fetched = next(int(m.group(1)) for line in lines if (m := re.match(r"-----> Fetched (\d+) layer", line)))
    return int(pushed[0]), int(pushed[1]), fetched


def test_a_warm_build_pushes_and_fetches_only_its_changed_layer(tmp_path, dockerd, allow_registry, build_registry,
                                                                 seeded_registry_root):
    """The base goes into the engine through the build registry (as the platform pulled it), so the first
    build's push sends its own layers alone and fetches back those the app lacks (its base it pulled
    itself); after a one-file change the engine pushes that layer alone and only it comes back, the others
    stand-ins the import takes by their proofs. The registry's blobs: one layer, config and manifest more."""
    import tarfile

    from tests.registry import Seeder

    owner, made, app = identity.app_uid(APP_ID + 5), [], f"engpush{uuid.uuid4().hex[:6]}"
    base = f"paas/fresh-{uuid.uuid4().hex[:8]}:1"  # one the engine has never had
    marker = tmp_path / "marker"
    marker.write_text(base)
    Seeder(seeded_registry_root[0]).image(base, allow_registry, base="paas/base:1", copies=[(marker, "/marker")])
    files = {"Dockerfile": f"FROM {allow_registry}/{base}\nRUN echo {uuid.uuid4().hex} > /built.txt\n"
                           "COPY app.txt /app.txt\nCMD [\"sh\"]\n".encode()}
    blobs = build_registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    try:
        files["app.txt"] = b"one"
        result, lines = pushed_build(dockerd, tmp_path, build_registry, files, app, owner)
        assert counts(lines) == (2, 2, 2), lines  # RUN and COPY sent and fetched; the base's two layers there
        made.append(imageimport.import_archive(dockerfile.open_image(result), owner=owner))
        before = {p.name for p in blobs.glob("*/*")}
        files["app.txt"] = b"two"
        result, lines = pushed_build(dockerd, tmp_path, build_registry, files, app, owner)
        assert counts(lines) == (1, 3, 1), lines
        stand_ins = [p for p in (result.layout / "blobs" / "sha256").iterdir() if p.stat().st_size == 0]
        assert len(stand_ins) == 3  # the base's and the RUN step's layers
        made.append(imageimport.import_archive(dockerfile.open_image(result), owner=owner))
        assert made[1].layers[:3] == made[0].layers[:3] and made[1].layers[3] != made[0].layers[3]
        with tarfile.open(images.oci_layer(made[1].layers[3]).with_suffix(".tar")) as layer:
            assert layer.extractfile("app.txt").read() == b"two"
        assert len({p.name for p in blobs.glob("*/*")} - before) == 3
    finally:
        images.gc(images.all_digests() - {image.digest for image in made})


def registry_file(build_registry, *parts: str):
    return build_registry.root.joinpath("data", "docker", "registry", "v2", *parts)


def blob_file(build_registry, digest: str):
    hexdigest = digest.removeprefix("sha256:")
    return registry_file(build_registry, "blobs", "sha256", hexdigest[:2], hexdigest, "data")


def tamper(path) -> None:
    """The file's bytes changed in place, its size kept (the engine's HEAD still finds the blob there)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_blob_or_manifest_that_does_not_match_its_digest_or_is_over_the_cap_fails_the_build(
        tmp_path, dockerd, allow_registry, build_registry, monkeypatch):
    """What the registry sends is the engine's, so hostile: a layer blob whose bytes are not its digest's fails
    the build naming the blob, a manifest that is not its digest's names the digest, and layers over
    PAAS_IMAGE_MAX_BYTES together fail it naming the setting. Nothing goes into the store."""
    import os

    from paas.runtime import registry as registry_client

    app, first_owner = f"enghost{uuid.uuid4().hex[:6]}", identity.app_uid(APP_ID + 6)
    files = {"Dockerfile": f"FROM {allow_registry}/paas/base:1\nRUN echo {uuid.uuid4().hex} > /built.txt\n"
                           "COPY big /big\nCMD [\"sh\"]\n".encode(), "big": os.urandom(3 << 20)}
    result, _ = pushed_build(dockerd, tmp_path, build_registry, files, app, first_owner)
    with dockerfile.open_image(result) as layout:
        copy_blob = layout.refs[-1].digest
    held = images.all_digests(), sorted(p.name for p in images.oci_dir().iterdir())
    tamper(blob_file(build_registry, copy_blob))
    # Another app's uid: the RUN and COPY layers are not its own, so they are fetched (the registry has them).
    with pytest.raises(BuildError, match=f"the built image cannot be used: .*blob {copy_blob[:19]} does not match its digest"):
        pushed_build(dockerd, tmp_path, build_registry, files, app, identity.app_uid(APP_ID + 7))
    monkeypatch.setenv("PAAS_IMAGE_MAX_BYTES", str(2 << 20))
    with pytest.raises(BuildError, match=r"larger than 2097152 bytes \(PAAS_IMAGE_MAX_BYTES\)"):
        pushed_build(dockerd, tmp_path, build_registry, {**files, "big": os.urandom(3 << 20)}, app, None)
    monkeypatch.delenv("PAAS_IMAGE_MAX_BYTES")
    assert (images.all_digests(), sorted(p.name for p in images.oci_dir().iterdir())) == held

    link = registry_file(build_registry, "repositories", "paas-build", app, "_manifests", "tags", str(APP_ID),
                         "current", "link")
    manifest = link.read_text().strip()
    path = blob_file(build_registry, manifest)  # still JSON, which the registry parses before sending it
    path.write_bytes(path.read_bytes().replace(b" ", b"\t", 1))
    ref = registry_client.Reference(build_registry.address, f"paas-build/{app}", manifest)
    with pytest.raises(ImageError, match=f"the registry's document does not match {manifest}"):
        registry_client.pull_layout(ref, build_registry.login, tmp_path / "tampered", set(), "sha256:" + "0" * 64)


def test_the_build_registry_is_the_platforms_alone(tmp_path, dockerd, allow_registry, build_registry,
                                                  seeded_registry_root):
    """docker-registry's htpasswd login gives a user every repository, so the scoping is the platform's: no
    login reads nothing; a build's steps cannot reach it (the host's loopback is not theirs); the worker
    reads the app's own repository, where another app's manifest is unknown."""
    from paas.runtime import registry as registry_client
    from tests.registry import Seeder

    port = build_registry.address.rsplit(":", 1)[1]
    files = {"probe": imagearchives.probe_binary(),
             "Dockerfile": (f"FROM {allow_registry}/paas/base:1\nCOPY probe /probe\n"
                            f"RUN /probe connect gateway {port} 127.0.0.1 {port} # {uuid.uuid4().hex}\n").encode()}
    app, other = f"engown{uuid.uuid4().hex[:6]}", f"engother{uuid.uuid4().hex[:6]}"
    _, lines = pushed_build(dockerd, tmp_path, build_registry, files, app, None)
    assert {f"connect gateway:{port}=closed", f"connect 127.0.0.1:{port}=closed"} <= set(lines), lines
    pushed_build(dockerd, tmp_path, build_registry, {"Dockerfile": f"FROM {allow_registry}/paas/base:1\n".encode()},
                 other, None)
    link = registry_file(build_registry, "repositories", "paas-build", app, "_manifests", "tags", str(APP_ID),
                         "current", "link")
    manifest = link.read_text().strip()
    ref = registry_client.Reference(build_registry.address, f"paas-build/{app}", manifest)
    with pytest.raises(ImageError, match="asks for a login"):
        registry_client.pull_layout(ref, None, tmp_path / "anonymous", set(), "sha256:" + "0" * 64)
    with pytest.raises(ImageError, match="it is not the image sha256:000000000000 \\(its config differs\\)"):
        registry_client.pull_layout(ref, build_registry.login, tmp_path / "another", set(), "sha256:" + "0" * 64)
    elsewhere = registry_client.Reference(build_registry.address, f"paas-build/{other}", manifest)
    with pytest.raises(ImageError, match="the registry answered 404"):
        registry_client.pull_layout(elsewhere, build_registry.login, tmp_path / "elsewhere", set(), "sha256:" + "0" * 64)
    wrong = dataclasses.replace(build_registry, login=registry_client.Login(build_registry.login.username, "wrong"))
    with pytest.raises(BuildError, match="could not push the image to the build registry: .*unauthorized"):
        pushed_build(dockerd, tmp_path, wrong, {"Dockerfile": f"FROM {allow_registry}/paas/base:1\n".encode()},
                     other, None)
    base = f"paas/unseen-{uuid.uuid4().hex[:8]}:1"  # not in the engine: it would go through the registry
    (tmp_path / "marker").write_text(base)
    Seeder(seeded_registry_root[0]).image(base, allow_registry, base="paas/base:1", copies=[(tmp_path / "marker", "/m")])
    with pytest.raises(BuildError, match=f"the base image {allow_registry}/{base} could not be put in the build "
                                         f"registry: .*refused the login of 'paas-builds' \\(401"):
        pushed_build(dockerd, tmp_path, wrong, {"Dockerfile": f"FROM {allow_registry}/{base}\n".encode()}, other, None)


def test_a_cancel_while_the_engine_pushes_stops_the_build(tmp_path, dockerd, allow_registry, build_registry):
    """The push of the image to the build registry is the build's too: a cancel then cuts it (as the time
    limit does, by the same wait), and no tag of the push is left in the engine."""
    cancel, app = threading.Event(), f"engcancel{uuid.uuid4().hex[:6]}"

    def cancel_at_the_push(line):
        if line == "-----> Pushing the image to the build registry":
            cancel.set()

    files = {"Dockerfile": f"FROM {allow_registry}/paas/base:1\nRUN echo {uuid.uuid4().hex} > /x\n".encode()}
    with pytest.raises(BuildCancelled):
        engine_build(dockerd, tmp_path, files, [], app=app, registry=build_registry, cancel=cancel,
                     on_output=cancel_at_the_push)
    tags = [t for i in api_of(dockerd).images() for t in i.get("RepoTags") or [] if build_registry.address in t]
    assert tags == []
