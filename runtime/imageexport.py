"""An OCI image of the store written back out as an OCI image layout in a tar.

What another host fetches (runtime/images.py ``fetch``, the API's ``images/<digest>``)
and what ``docker load`` / ``buildah pull oci-archive:`` read. The config is made from
the run settings the store keeps (imageconfig.py), so importing the archive again
gives the same image digest.
"""

import hashlib
import io
import json
import tarfile

from . import images
from .errors import ImageError

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def config_document(image: images.Image, *, env: dict | None = None, command: str = "") -> dict:
    """The image config JSON of the store's run settings (the inverse of imageconfig.normalize); a
    release's config vars (`env`) and process command (replacing CMD, as imageconfig.argv does) on top."""
    run = image.config
    settings = {"Env": [f"{k}={v}" for k, v in {**run["env"], **(env or {})}.items()], "WorkingDir": run["workdir"]}
    if run["entrypoint"]:
        settings["Entrypoint"] = run["entrypoint"]
    cmd = ["/bin/sh", "-c", command] if command else run["cmd"]
    if cmd:
        settings["Cmd"] = cmd
    if run["user"]:
        settings["User"] = run["user"]
    if run["port"]:
        settings["ExposedPorts"] = {f"{run['port']}/tcp": {}}
    return {"architecture": "amd64", "os": "linux", "config": settings,
            "rootfs": {"type": "layers", "diff_ids": list(image.layers)}}


def write(digest: str, out, *, env: dict | None = None, command: str = "", tag: str = "") -> None:
    """Write image `digest` as an OCI layout tar to the binary file `out`, with docker save's
    manifest.json beside it (what `docker load` reads), tagged `tag` when given."""
    image = images.get(digest)
    if not image.is_oci:
        raise ImageError(f"image {digest} is a slug, not an OCI image")
    store = images.oci_dir()
    config = json.dumps(config_document(image, env=env, command=command), sort_keys=True).encode()
    layers = []
    for diff_id in image.layers:
        path = store / f"{diff_id.removeprefix('sha256:')}.tar"
        if not path.is_file():
            raise ImageError(f"layer {diff_id[:19]} of image {digest} is not on this host")
        layers.append((diff_id, path))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(config),
                   "size": len(config)},
        # Stored uncompressed, named by diff_id: the blob digest of an uncompressed layer is its diff_id.
        "layers": [{"mediaType": LAYER_TYPE, "digest": d, "size": p.stat().st_size} for d, p in layers],
    }, sort_keys=True).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _sha(manifest),
        "size": len(manifest)}]}).encode()
    with tarfile.open(fileobj=out, mode="w|") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", index)
        _add(tar, _blob(_sha(manifest)), manifest)
        _add(tar, _blob(_sha(config)), config)
        for diff_id, path in layers:
            tar.add(path, _blob(diff_id), recursive=False)
        _add(tar, "manifest.json", json.dumps([{"Config": _blob(_sha(config)), "RepoTags": [tag] if tag else [],
                                                 "Layers": [_blob(d) for d, _ in layers]}]).encode())


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
