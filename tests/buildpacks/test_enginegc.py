"""The build engine's collection (buildpacks/enginegc.py, platform/control/imagegc.py): cache images of destroyed
apps and bases no build used lately go; a live app's cache and the docker backend's images stay. Against the
session's dockerd (tests/dockerd.py) with bases from the loopback registry (tests/registry.py)."""

import time
import uuid

import docker

from paas.buildpacks import enginebuild, enginegc, engineimages
from paas.platform.actions.apps import create_app, destroy_app
from paas.platform.celery import app as celery_app
from paas.platform.control import imagegc
from tests.buildpacks.test_enginebuild import api_of
from tests.platform.accounts import make_user


def test_stale_tags_are_destroyed_apps_caches_then_bases_past_the_grace():
    caches = ["paas-build/live:1", "paas-build/gone:2", "paas-build/live:latest"]
    bases = {"paas-build-base:aa": 1000.0, "paas-build-base:bb": 1500.0, "paas-build-base:cc": float("inf")}
    assert enginegc.stale(caches, bases, {"paas-build/live:1"}, now=2000.0, grace_s=600) == [
        "paas-build/gone:2", "paas-build/live:latest", "paas-build-base:aa"]
    assert enginegc.stale(caches, bases, set(caches), now=1100.0, grace_s=600) == []


def test_the_engines_tag_times_read_as_epoch_seconds():
    assert enginegc.tagged_at("2026-12-07T09:00:01.123456789Z") == 1796634001.0
    assert enginegc.tagged_at("2026-12-07T10:00:01.5+01:00") == 1796634001.0
    assert enginegc.tagged_at("0001-01-01T00:00:00Z") < 0       # never tagged: as old as can be
    assert enginegc.tagged_at(None) == 0.0 and enginegc.tagged_at("garbage") == 0.0


def test_the_engine_collection_is_a_task_on_the_build_queue(settings):
    celery_app.loader.import_default_modules()
    assert imagegc.ENGINE_TASK_NAME in celery_app.tasks
    assert celery_app.amqp.router.route({}, imagegc.ENGINE_TASK_NAME)["queue"].name == settings.PAAS_BUILD_QUEUE
    settings.PAAS_BUILD_DOCKER_HOST = ""
    assert imagegc.collect_engine() == []  # no engine named: nothing asked of one


def build(dockerd, app, tmp_path, text: str, lines: list) -> str:
    """The app's Dockerfile `text` built on the engine (as the build worker does); its image id there."""
    source, work = tmp_path / f"src-{app.name}", tmp_path / f"work-{uuid.uuid4().hex[:6]}"
    for d in (source, work):
        d.mkdir(exist_ok=True)
    (source / "Dockerfile").write_text(text)
    engine = enginebuild.Engine(dockerd, app.name, app.pk, memory_mb=256, max_context_bytes=1 << 20)
    engine.build_image(str(source), str(work), on_output=lines.append, timeout=300,
                       bases_dir=str(tmp_path / f"bases-{app.name}"))
    return api_of(dockerd).inspect_image(enginebuild.cache_tag(app.name, app.pk))["Id"]


def gone(api, ref: str) -> bool:
    try:
        api.inspect_image(ref)
        return False
    except docker.errors.NotFound:
        return True


def base_id(lines: list) -> str:
    """The base image id a build's output names (its FROM step, rewritten to the id)."""
    return next(line.split("FROM ")[1].strip() for line in lines if line.startswith("Step 1/") and "FROM sha256:" in line)


def test_destroyed_apps_images_and_unused_bases_leave_the_build_engine(tmp_path, dockerd, allow_registry, settings,
                                                                     transactional_db):
    settings.PAAS_BUILD_DOCKER_HOST = dockerd
    api, owner, marker = api_of(dockerd), make_user("engine-gc"), uuid.uuid4().hex[:8]
    live, destroyed = (create_app(owner, f"gc{kind}-{uuid.uuid4().hex[:6]}") for kind in ("live", "gone"))
    live_text = f"FROM {allow_registry}/paas/base:1\nRUN echo live-{marker}\n"
    live_lines, gone_lines = [], []
    live_id = build(dockerd, live, tmp_path, live_text, live_lines)
    gone_id = build(dockerd, destroyed, tmp_path, f"FROM {allow_registry}/paas/probe:1\nRUN echo gone-{marker}\n",
                    gone_lines)
    live_base, gone_base = base_id(live_lines), base_id(gone_lines)
    assert live_base != gone_base
    live_tag, gone_tag = (enginebuild.cache_tag(app.name, app.pk) for app in (live, destroyed))
    destroy_app(owner, destroyed, destroyed.name)

    # Caches of destroyed apps go now; both bases were just tagged by a build and stay.
    removed = imagegc.collect_engine()
    assert gone_tag in removed and live_tag not in removed and not any("base" in t for t in removed)
    assert gone(api, gone_id) and not gone(api, live_id) and not gone(api, gone_base)

    # Past the grace, the bases no build tagged again go: the destroyed app's from the engine, the live app's
    # only its tag (it stays as its image's parent, and the app's next build still starts from its cache).
    grace = imagegc.ENGINE_GRACE_MARGIN_S + settings.PAAS_BUILD_TIMEOUT_S
    removed = enginegc.collect(api, imagegc.live_cache_tags(), time.time() + grace + 1, grace)
    assert {engineimages.base_tag(live_base), engineimages.base_tag(gone_base)} <= set(removed)
    assert gone(api, gone_base) and not gone(api, live_base) and not gone(api, live_id)
    live_lines.clear()
    assert build(dockerd, live, tmp_path, live_text, live_lines) == live_id
    assert any("Using cache" in line for line in live_lines), live_lines
    assert not gone(api, engineimages.base_tag(live_base))  # tagged again by the build

    destroy_app(owner, live, live.name)
    assert live_tag in imagegc.collect_engine()
    assert gone(api, live_id)


def test_destroyed_apps_and_earlier_builds_leave_the_build_registry(tmp_path, dockerd, allow_registry,
                                                                   seeded_registry_root):
    """The collection removes a destroyed app's repository and, through docker-registry's garbage-collect, the
    blobs only it and a live app's earlier builds named; the live app's last image still comes back whole."""
    from paas.buildpacks import dockerfile
    from paas.runtime import registry as registry_client
    from tests.buildpacks.test_enginebuild import APP_ID, engine_build
    from tests.registry import running_build_registry

    from tests.registry import Seeder

    live, destroyed = (f"gcreg{kind}{uuid.uuid4().hex[:6]}" for kind in ("live", "gone"))
    base = f"paas/gcbase-{uuid.uuid4().hex[:8]}:1"  # one the engine has never had: it is pulled through the registry
    marker = tmp_path / "marker"
    marker.write_text(base)
    Seeder(seeded_registry_root[0]).image(base, allow_registry, base="paas/base:1", copies=[(marker, "/marker")])
    text = f"FROM {allow_registry}/{base}\nCOPY app.txt /app.txt\nCMD [\"sh\"]\n".encode()
    with running_build_registry(tmp_path / "registry") as registry:
        blobs = registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
        made = {}
        for app, content in ((live, b"first"), (live, b"second"), (destroyed, uuid.uuid4().bytes)):
            result = engine_build(dockerd, tmp_path, {"Dockerfile": text, "app.txt": content}, [], app=app,
                                  registry=registry)
            with dockerfile.open_image(result) as layout:
                made[(app, content)] = layout.refs[-1].digest
        held = {f"sha256:{p.name}" for p in blobs.glob("*/*")}
        assert set(made.values()) <= held
        repositories = registry.root / "data/docker/registry/v2/repositories"
        bases = {p.name for p in (repositories / "paas-build-base").glob("*")}  # as the builds pulled them through
        assert len(bases) == 1
        removed = enginegc.collect_registry(registry, {enginebuild.cache_tag(live, APP_ID)}, lambda: bases)
        assert removed == [f"paas-build/{destroyed}"]
        # Bases the engine no longer tags go too; the live image's manifest keeps their blobs.
        assert enginegc.collect_registry(registry, {enginebuild.cache_tag(live, APP_ID)}) == [
            f"paas-build-base/{name}" for name in sorted(bases)]
        left = {f"sha256:{p.name}" for p in blobs.glob("*/*")}
        assert made[(live, b"second")] in left and not {made[(live, b"first")], made[(destroyed, content)]} & left
        tag = registry.root / "data/docker/registry/v2/repositories/paas-build" / live / "_manifests/tags" / str(APP_ID)
        manifest = (tag / "current" / "link").read_text().strip()
        image_id = api_of(dockerd).inspect_image(enginebuild.cache_tag(live, APP_ID))["Id"]
        ref = registry_client.Reference(registry.address, f"paas-build/{live}", manifest)
        assert registry_client.pull_layout(ref, registry.login, tmp_path / "after", set(), image_id) == 3
