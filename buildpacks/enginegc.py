"""The Docker engine of the builds (enginebuild.py), collected: what no existing app's build keeps.

The build worker runs it (platform/control/imagegc.py sends the task every ENGINE_EVERY_S where
PAAS_BUILD_DOCKER_HOST names an engine), with the apps that exist:

- an app's cache image (``paas-build/<app>:<id>``, enginebuild.cache_tag) goes once no app has that name
  and id (destroyed; tags of the earlier ``:latest`` scheme too). Removing the tag removes the image and
  the step images under it that nothing else is built on.
- a base (``paas-build-base:<id>``, engineimages.base_tag) goes once no build has tagged it for `grace_s`
  (each build tags its bases before its first step and may run up to its time limit). Caches go first,
  so the base of a destroyed app's image goes in the same pass; a base a live app's image is built on
  loses its tag only and stays in the engine as that image's parent (its next build tags it again).

Only these two repositories are touched: the docker backend's images (runtime/dockerimages.py) and an
operator's own on the same engine stay. An image a container uses is refused by the engine and waits
for the next collection.

The build registry (buildregistry.py), where this host runs it (its config in PAAS_BUILD_REGISTRY_DIR),
is collected in the same pass (collect_registry): the repository of an app that no longer exists goes,
a live app's tags other than its id (an app of that name before it), and the repository of a base the
engine no longer tags (engineimages.pull_through); then docker-registry's
garbage-collect removes the manifests no tag names (a live app's earlier builds) and the blobs no
manifest names. It runs holding the registry's collection lock exclusively (builds hold it shared
from push to fetch, enginepush.py), waiting at most LOCK_WAIT_S for builds in flight, else it waits for
the next collection.
"""

import re
import shutil
import subprocess
import time
from datetime import datetime

from . import buildregistry, enginepush
from .engineimages import BASE_REPOSITORY
from .enginebuild import CACHE_REPOSITORY
from .errors import BuildError

_FRACTION = re.compile(r"\.\d+")
LOCK_WAIT_S = 60
GC_TIMEOUT_S = 600


def repository(tag: str) -> str:
    return tag.rpartition(":")[0]


def stale(caches: list[str], bases: dict[str, float], live: set[str], now: float, grace_s: float) -> list[str]:
    """The tags to remove, in order: `caches` (the engine's cache tags) that `live` does not name, then
    `bases` (tag -> when a build last tagged it, epoch seconds) not tagged within grace_s."""
    gone = sorted(tag for tag in caches if tag not in live)
    return gone + sorted(tag for tag, tagged in bases.items() if now - tagged >= grace_s)


def tagged_at(text) -> float:
    """The engine's LastTagTime (RFC 3339, nanoseconds) in epoch seconds; 0 when it has none."""
    try:
        return datetime.fromisoformat(_FRACTION.sub("", str(text))).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def collect(api, live: set[str], now: float, grace_s: float) -> list[str]:
    """Remove what stale() names from the engine (`api`: a docker.APIClient); the tags removed."""
    import docker.errors

    tags = [tag for image in api.images() for tag in image.get("RepoTags") or ()]
    caches = [tag for tag in tags if repository(tag).startswith(f"{CACHE_REPOSITORY}/")]
    bases = {tag: _tagged(api, tag) for tag in tags if repository(tag) == BASE_REPOSITORY}
    removed = []
    for tag in stale(caches, bases, live, now, grace_s):
        # A base is asked again just before: a build starting meanwhile has tagged it anew.
        if tag in bases and now - _tagged(api, tag) < grace_s:
            continue
        try:
            api.remove_image(tag)
            removed.append(tag)
        except docker.errors.APIError:
            pass  # in use by a container (a build's step), or gone meanwhile: the next collection sees it
    try:
        registry = buildregistry.from_env()
    except BuildError:
        registry = None  # each build names the setting's fault
    return removed + collect_registry(registry, live, lambda: _base_ids(api))


def _base_ids(api) -> set[str]:
    """The image ids (hex) of the bases the engine tags now (engineimages.base_tag)."""
    return {tag.rpartition(":")[2] for image in api.images() for tag in image.get("RepoTags") or ()
            if repository(tag) == BASE_REPOSITORY}


def _tagged(api, tag: str) -> float:
    """When a build last tagged `tag`; now-ish (kept) when the engine no longer has it."""
    import docker.errors

    try:
        return tagged_at((api.inspect_image(tag).get("Metadata") or {}).get("LastTagTime"))
    except docker.errors.NotFound:
        return float("inf")


def collect_registry(registry: "buildregistry.BuildRegistry | None", live: set[str], bases=set) -> list[str]:
    """The build registry's repositories of apps `live` (cache tags, enginebuild.cache_tag) does not name
    removed, a live app's other tags too, and those of bases the engine no longer tags (`bases()`: the image
    ids, hex, it still does, asked once the lock is held: a build tags its base before it lets go of it;
    a base's layers under a live app's image stay, that image's manifest names them); then its garbage
    collected. The repositories and tags removed; [] where no registry is named or its config is not on
    this host."""
    if registry is None or not (registry.root / "config.yml").is_file():
        return []
    ids = {}
    for tag in live:
        name, _, app_id = tag.partition(":")
        ids[name.removeprefix(f"{CACHE_REPOSITORY}/")] = app_id
    repositories = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        with enginepush.collection_lock(registry.root, exclusive=True, wait=False) as held:
            if held:
                removed = _drop_repositories(repositories / buildregistry.REPOSITORY, ids)
                removed += _drop_bases(repositories / BASE_REPOSITORY, bases())
                _garbage_collect(registry)
                return removed
        if time.monotonic() > deadline:
            return []  # builds kept pushing: the next collection
        time.sleep(1)


def _drop_repositories(repositories, ids: dict[str, str]) -> list[str]:
    """What of the registry's own files names destroyed apps (or the tags of earlier apps of a name)."""
    removed = []
    for repository in sorted(repositories.iterdir()) if repositories.is_dir() else ():
        if repository.is_symlink() or not repository.is_dir():
            continue
        if repository.name not in ids:
            shutil.rmtree(repository)
            removed.append(f"{buildregistry.REPOSITORY}/{repository.name}")
            continue
        tags = repository / "_manifests" / "tags"
        for tag in sorted(tags.iterdir()) if tags.is_dir() else ():
            if tag.name != ids[repository.name] and tag.is_dir() and not tag.is_symlink():
                shutil.rmtree(tag)
                removed.append(f"{buildregistry.REPOSITORY}/{repository.name}:{tag.name}")
    return removed


def _drop_bases(repositories, bases: set[str]) -> list[str]:
    """The registry's repositories of bases (engineimages.pull_through) the engine no longer tags."""
    removed = []
    for repository in sorted(repositories.iterdir()) if repositories.is_dir() else ():
        if repository.name not in bases and repository.is_dir() and not repository.is_symlink():
            shutil.rmtree(repository)
            removed.append(f"{BASE_REPOSITORY}/{repository.name}")
    return removed


def _garbage_collect(registry) -> None:
    """docker-registry's garbage-collect: untagged manifests, then blobs no manifest names."""
    subprocess.run(["docker-registry", "garbage-collect", "--delete-untagged", str(registry.root / "config.yml")],
                   capture_output=True, timeout=GC_TIMEOUT_S, check=False)
