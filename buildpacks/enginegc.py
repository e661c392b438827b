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
"""

import re
from datetime import datetime

from .engineimages import BASE_REPOSITORY
from .enginebuild import CACHE_REPOSITORY

_FRACTION = re.compile(r"\.\d+")


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
    return removed


def _tagged(api, tag: str) -> float:
    """When a build last tagged `tag`; now-ish (kept) when the engine no longer has it."""
    import docker.errors

    try:
        return tagged_at((api.inspect_image(tag).get("Metadata") or {}).get("LastTagTime"))
    except docker.errors.NotFound:
        return float("inf")
