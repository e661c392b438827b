"""Images between the platform and the engine of the builds (enginebuild.py): bases in, the result out.

In: a base the platform pulled (an OCI archive, dockerbases.py) goes into the engine as ``docker load``
reads it (this engine does not read OCI archives): its config and layer blobs as they are, and docker
save's manifest.json naming them; its image id there is the digest of its config. A base carrying
``ONBUILD`` triggers is refused (the engine would run them in the build, fetching on its own network).
Each build tags the bases it uses ``paas-build-base:<image id>`` again, so the engine's time of that tag
says when a build last used it (enginegc.py collects the ones no build used for a while).

Out: ``docker save`` of the built image, read as a stream (never extracted) into an OCI layout in the
build's work directory, each layer named by its digest (docker save's layers are plain tars: the
digest is the diff_id). A layer the app has proven (images.proven) gets an empty stand-in, which the
import of the app's build never opens; a layer of a proven one's size is only hashed, never written
(an app's base is most of what docker save sends each build), and written out on a second export in the
rare case it is another layer of that size. The whole read is capped at PAAS_IMAGE_MAX_BYTES (and some).
"""

import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import threading
from pathlib import Path

from paas.runtime import config, images
from paas.runtime.errors import ImageError
from paas.runtime.imagearchive import Archive

from . import dockerbases
from .enginepush import collection_lock, engine_stream
from .errors import BuildError

CHUNK = 1 << 20
MAX_DOCUMENT = 4 << 20              # a JSON member of docker save's output
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
BASE_REPOSITORY = "paas-build-base"  # the engine's tag of a base a build loaded: paas-build-base:<image id>


def load_base(api, archive: Path, base: dockerbases.Base, registry=None, limit=None) -> str:
    """The base (an OCI archive the platform pulled) in the engine: its image id there. Through the build
    registry where there is one (`registry`, pull_through, within the build's `limit`), else as `docker
    load` reads it."""
    import docker.errors

    image_id = f"sha256:{base.image_id}"
    if engine_id(api, image_id):
        _refuse_triggers(base, (api.inspect_image(image_id).get("Config") or {}).get("OnBuild"))
        return _mark_used(api, image_id)
    with Archive(archive) as pulled:
        _refuse_triggers(base, (pulled.document.get("config") or {}).get("OnBuild"))
    if registry is not None:
        # Held until the engine tags it: the registry's collection keeps the bases the engine tags.
        with collection_lock(registry.root, exclusive=False):
            pull_through(api, archive, base, registry, limit)
            if not engine_id(api, image_id):
                raise BuildError(f"the Docker engine did not pull the base image {base.name[:200]} from the "
                                 "build registry")
            return _mark_used(api, image_id)
    with Archive(archive) as pulled:
        path = archive.with_name(f".{archive.name}.{os.getpid()}.load")
        try:
            with open(path, "wb") as out:
                _docker_load_archive(pulled, f"blobs/sha256/{base.image_id}", out)
            with open(path, "rb") as data:
                api.load_image(data)
        except docker.errors.APIError as exc:
            raise BuildError(f"the Docker engine refused the base image {base.name[:200]}: "
                             f"{str(exc.explanation)[:300]}") from None
        finally:
            path.unlink(missing_ok=True)
    if not engine_id(api, image_id):
        raise BuildError(f"the Docker engine did not load the base image {base.name[:200]}")
    return _mark_used(api, image_id)


def pull_through(api, archive: Path, base: dockerbases.Base, registry, limit) -> None:
    """The base into the engine by a pull from the build registry (``paas-build-base/<image id>``), where the
    platform first puts its blobs as it pulled them (checked then), compressed as they are: the engine
    then knows each base layer's blob there, so the push of an image built on it sends none of them again
    (after docker load it would compress the whole base once, 1-2 minutes for a 906 MB one)."""

    from paas.runtime import registry as registry_client

    repository = f"{BASE_REPOSITORY}/{base.image_id}"
    try:
        digest = registry_client.push_archive(archive, registry_client.Reference(registry.address, repository, "base"),
                                              registry.login)
    except ImageError as error:
        raise BuildError(f"the base image {base.name[:200]} could not be put in the build registry: {error}") from None
    for _ in engine_stream(api, api._url("/images/create"), {"fromImage": f"{registry.address}/{repository}",
                                                             "tag": digest}, registry, limit,
                           f"pull the base image {base.name[:200]} from the build registry"):
        pass


def base_tag(image_id: str) -> str:
    """The engine's tag of a base image (by its id) that builds load."""
    return f"{BASE_REPOSITORY}:{image_id.removeprefix('sha256:')}"


def _mark_used(api, image_id: str) -> str:
    """The base tagged (again: the engine's LastTagTime is now) for this build; its image id."""
    import docker.errors

    repository, tag = base_tag(image_id).split(":")
    try:
        api.tag(image_id, repository, tag, force=True)
    except (docker.errors.DockerException, OSError) as exc:
        raise BuildError(f"the Docker engine of the builds does not answer: {str(exc)[:300]}") from None
    return image_id


def _refuse_triggers(base: dockerbases.Base, triggers) -> None:
    if triggers:
        raise BuildError(f"the base image {base.name[:200]} has ONBUILD triggers, which the Docker engine "
                         "build does not run")


def _docker_load_archive(pulled: Archive, config_member: str, out) -> None:
    """The pulled image as `docker load` reads it (this engine's does not read OCI archives):
    its config and layer blobs as they are, and docker save's manifest.json naming them."""
    names = [config_member, *(ref.member for ref in pulled.refs)]
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for name in dict.fromkeys(names):
            stream, size = pulled._open_member(name)
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, stream)
        manifest = json.dumps([{"Config": config_member, "RepoTags": [],
                                "Layers": [ref.member for ref in pulled.refs]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))


class _Stream(io.RawIOBase):
    """The chunks of a byte iterator as a file for tarfile's stream mode, at most `limit` bytes."""

    def __init__(self, chunks, limit: int):
        self.chunks, self.limit, self.pending, self.total = iter(chunks), limit, b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            self.pending = next(self.chunks, b"")
            if not self.pending:
                return 0
            self.total += len(self.pending)
            if self.total > self.limit:
                raise ImageError(f"the image is larger than {config.image_max_bytes()} bytes (PAAS_IMAGE_MAX_BYTES)")
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n


class _NotProven(Exception):
    """A layer of a proven layer's size was another one: it was not written, the export starts again."""


def export(api, image_id: str, layout: Path, proven: set[str]) -> None:
    """`docker save` of image_id, read as a stream, into an OCI layout at `layout` (a fresh directory of
    the platform's). Layers `proven` (diff_ids) get an empty stand-in: the import takes them unread."""
    sizes = {images.oci_layer_size(diff_id) for diff_id in proven} - {None}
    try:
        _export(api, image_id, layout, proven, sizes)
    except _NotProven:
        shutil.rmtree(layout)
        _export(api, image_id, layout, proven, set())


def _export(api, image_id: str, layout: Path, proven: set[str], sizes: set[int]) -> None:
    """export(), a layer whose size is in `sizes` hashed but not written (_NotProven if it is not proven)."""
    import docker.errors

    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    documents, digests, links = {}, {}, {}
    try:
        stream = _Stream(api.get_image(image_id, chunk_size=CHUNK), config.image_max_bytes() + (64 << 20))
        with tarfile.open(fileobj=io.BufferedReader(stream, CHUNK), mode="r|") as tar:
            for member in tar:
                name = posixpath.normpath(member.name)
                if member.issym():
                    links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.isreg() and name.endswith("/layer.tar"):
                    digests[name] = _layer_blob(tar.extractfile(member), blobs, proven, member.size in sizes)
                elif member.isreg():
                    if member.size > MAX_DOCUMENT:
                        raise ImageError(f"docker save's {name[:80]} is over {MAX_DOCUMENT} bytes")
                    documents[name] = tar.extractfile(member).read()
    except docker.errors.APIError as exc:
        raise ImageError(f"the Docker engine did not give the image: {str(exc.explanation)[:300]}") from None
    except (tarfile.TarError, OSError) as exc:
        raise ImageError(f"the Docker engine's image is not a readable archive: {exc}") from None
    try:
        entry = json.loads(documents["manifest.json"])[0]
        config_bytes = documents[posixpath.normpath(entry["Config"])]
        layers = [digests[links.get(posixpath.normpath(n), posixpath.normpath(n))] for n in entry["Layers"]]
    except (KeyError, IndexError, TypeError, ValueError):
        raise ImageError("the Docker engine's image is not a docker save archive this platform reads") from None
    _write_layout(layout, config_bytes, layers)


def _layer_blob(stream, blobs: Path, proven: set[str], hash_only: bool) -> tuple[str, int]:
    """One layer into the layout, named by its digest (its diff_id: docker save's layers are plain tars).
    `hash_only`: it is likely proven (its size is a proven layer's), so its bytes are not written."""
    sha, size = hashlib.sha256(), 0
    tmp = blobs / f".layer.{threading.get_ident()}"
    with open(tmp, "wb") as out:
        while chunk := stream.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
            if not hash_only:
                out.write(chunk)
    digest = f"sha256:{sha.hexdigest()}"
    if digest in proven:
        tmp.write_bytes(b"")  # a stand-in: the import of the owner's build never opens it
    elif hash_only:
        raise _NotProven(digest)
    os.replace(tmp, blobs / sha.hexdigest())
    return digest, size


def _write_layout(layout: Path, config_bytes: bytes, layers: list[tuple[str, int]]) -> None:
    def blob(data: bytes) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config_bytes)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": d, "size": n} for d, n in layers]}).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                **blob(manifest)}]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def engine_id(api, ref: str) -> str:
    """The engine's id of image `ref`, "" when it has none."""
    import docker.errors

    try:
        return api.inspect_image(ref)["Id"]
    except docker.errors.NotFound:
        return ""
    except (docker.errors.DockerException, OSError) as exc:
        raise BuildError(f"the Docker engine of the builds does not answer: {str(exc)[:300]}") from None


def remove_image(api, image_id: str) -> None:
    """An app's earlier build image once no tag names it (its layers still under the new one stay)."""
    import docker.errors

    try:
        api.remove_image(image_id)
    except (docker.errors.DockerException, OSError):
        pass  # still a parent of the new image, or in use: left to the engine's gc (dockergc)


def drop_steps(api, images: list[str]) -> None:
    """The images a failed build's steps made, the last first: each alone (not its parents, which may be a
    base or another build's), and none that is still a parent (the app's cached steps) or in use."""
    import docker.errors

    for image in reversed(images):
        try:
            api.remove_image(image, noprune=True)
        except (docker.errors.DockerException, OSError):
            pass  # a parent of the app's last image (a cached step), or in use: it stays
