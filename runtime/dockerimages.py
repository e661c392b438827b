"""A release's root filesystem as an image of the Docker engine (the docker backend, dockerbackend.py).

An OCI image of the store goes in as it is (its OCI archive, imageexport.py, through `docker load`),
tagged with its digest; a slug's stack goes in once per stack as a single-layer image (`docker import`
of its root filesystem), tagged with the digest of what makes the stack, and the slug itself is bound
read-only at /app from the store's layer (the one unpacked tree of that app's uid). Either way the tag
names the content, so an image the engine has is never made again (the cache is the engine's store).

What no instance of this host wants any more goes (``collect``, from the agent's passes): the engine's
``paas/image`` and ``paas/stack`` tags that no desired instance here names and no container of the
engine uses. The image store keeps every release's image (platform/control/imagegc.py), so a rollback
here loads it again.
"""

import hashlib
import json
import tempfile
from pathlib import Path

from . import config, images, imageexport, slugexport, stacks
from .errors import ImageError

IMAGE_REPOSITORY = "paas/image"
STACK_REPOSITORY = "paas/stack"


def image_ref(digest: str) -> str:
    """The engine's tag of an OCI image of the store."""
    return f"{IMAGE_REPOSITORY}:{digest.removeprefix('sha256:')}"


def stack_ref(stack: stacks.Stack) -> str:
    """The engine's tag of a stack: its name and a digest of its description (layers, binds)."""
    described = json.dumps([stack.name, [str(p) for p in stack.layers],
                            [[str(m.source), m.destination] for m in stack.binds]])
    stamps = [str(p.stat().st_mtime_ns) for p in stack.layers]  # a stack rebuilt in place is another
    return f"{STACK_REPOSITORY}:{stack.name}-{hashlib.sha256((described + ''.join(stamps)).encode()).hexdigest()[:16]}"


def ref_of(digest: str, stack_name: str) -> str:
    """The engine's reference of the image instances of `digest` start from (made or not)."""
    image = images.get(digest)
    return image_ref(digest) if image.is_oci else stack_ref(stacks.get(image.stack or stack_name))


def ensure(api, digest: str, stack_name: str) -> str:
    """The engine's reference of the image instances of `digest` start from, made on first use
    (`api`: a docker.APIClient)."""
    image = images.get(digest)
    if image.is_oci:
        ref = image_ref(digest)
        return _ensure(api, ref, lambda tmp: _load(api, digest, ref, tmp))
    stack = stacks.get(image.stack or stack_name)
    ref = stack_ref(stack)
    return _ensure(api, ref, lambda tmp: _import(api, stack, ref, tmp))


def unused_tags(engine_images: list[dict], containers: list[dict], keep: set[str]) -> list[str]:
    """The platform's tags (paas/image, paas/stack) among `engine_images` (the engine's image list) that are
    not in `keep` and whose image no container of `containers` (the engine's, all states) runs."""
    used = {c.get("ImageID") for c in containers} | {c.get("Image") for c in containers}
    found = []
    for image in engine_images:
        if image.get("Id") in used:
            continue
        for tag in image.get("RepoTags") or ():
            if tag.partition(":")[0] in (IMAGE_REPOSITORY, STACK_REPOSITORY) and tag not in keep and tag not in used:
                found.append(tag)
    return sorted(found)


def collect(api, keep: set[str]) -> list[str]:
    """Remove the platform's engine images no container uses and `keep` does not name; the tags removed."""
    import docker.errors

    removed = []
    for tag in unused_tags(api.images(), api.containers(all=True), keep):
        try:
            api.remove_image(tag)
            removed.append(tag)
        except docker.errors.APIError:
            pass  # taken into use meanwhile (a create), or the engine busy: the next collection sees it
    return removed


def _ensure(api, ref: str, make) -> str:
    if _has(api, ref):
        return ref
    # One maker per host: two agents' first starts of one release make its image once.
    with images.locked(".docker.lock"), tempfile.TemporaryDirectory(dir=config.images_dir()) as tmp:
        if not _has(api, ref):
            make(Path(tmp) / "image.tar")
    return ref


def _has(api, ref: str) -> bool:
    import docker.errors

    try:
        api.inspect_image(ref)
        return True
    except docker.errors.NotFound:
        return False


def _load(api, digest: str, ref: str, path: Path) -> None:
    """`docker load` of the image's OCI archive, tagged `ref`."""
    import docker.errors

    with open(path, "wb") as out:
        imageexport.write(digest, out, tag=ref)
    try:
        with open(path, "rb") as archive:
            api.load_image(archive)
    except docker.errors.APIError as exc:
        raise ImageError(f"the Docker engine refused image {digest[:19]}: {exc.explanation}") from None


def _import(api, stack: stacks.Stack, ref: str, path: Path) -> None:
    """`docker import` of the stack's layers as one root filesystem."""
    import docker.errors

    slugexport.stack_tar(stack, path)
    repository, tag = ref.split(":", 1)
    try:
        api.import_image_from_file(str(path), repository=repository, tag=tag)
    except docker.errors.APIError as exc:
        raise ImageError(f"the Docker engine refused stack {stack.name}: {exc.explanation}") from None
