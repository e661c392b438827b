"""An OCI image of the store written back out as an OCI image layout in a tar.

What another host fetches (runtime/images.py ``fetch``, the API's ``images/<digest>``)
and what ``docker load`` / ``buildah pull oci-archive:`` read (``paas releases:export``; a
slug release goes out as its stack plus the slug, slugexport.py). The config is made from
the run settings the store keeps (imageconfig.py), so importing the archive again
gives the same image digest.
"""

import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

from . import images, slugexport
from .errors import ImageError

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def config_document(image: images.Image, *, env: dict | None = None, command: str = "") -> dict:
    """The image config JSON of the store's run settings (the inverse of imageconfig.normalize); a
    release's config vars (`env`) and process command (replacing CMD, as imageconfig.argv does) on top."""
    cmd = ["/bin/sh", "-c", command] if command else image.config["cmd"]
    return document(image.config, list(image.layers), env=env, cmd=cmd)


def document(run: dict, diff_ids: list[str], *, env: dict | None, cmd: list[str]) -> dict:
    """The image config JSON of run settings (imageconfig.normalize's shape) over layers `diff_ids`."""
    settings = {"Env": [f"{k}={v}" for k, v in {**run["env"], **(env or {})}.items()], "WorkingDir": run["workdir"]}
    if run["entrypoint"]:
        settings["Entrypoint"] = run["entrypoint"]
    if cmd:
        settings["Cmd"] = cmd
    if run["user"]:
        settings["User"] = run["user"]
    if run["port"]:
        settings["ExposedPorts"] = {f"{run['port']}/tcp": {}}
    return {"architecture": "amd64", "os": "linux", "config": settings,
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}


def write(digest: str, out, *, env: dict | None = None, command: str = "", tag: str = "") -> None:
    """Write image `digest` as an OCI layout tar to the binary file `out`, with docker save's
    manifest.json beside it (what `docker load` reads), tagged `tag` when given.

    A slug is written as its stack's root filesystem and the slug under /app (slugexport.py), started
    with `command` (its web process by default) as a native instance would start it."""
    image = images.get(digest)
    if image.is_oci:
        _write_layout(out, config_document(image, env=env, command=command), _stored_layers(image), tag)
        return
    with tempfile.TemporaryDirectory(dir=images.oci_dir()) as work:
        layers = slugexport.layers(image, Path(work))
        run = slugexport.run_settings(image, command)
        config = document(run, [d for d, _ in layers], env=env, cmd=run["cmd"])
        _write_layout(out, config, layers, tag)


def _stored_layers(image: images.Image) -> list[tuple[str, Path]]:
    store = images.oci_dir()
    layers = []
    for diff_id in image.layers:
        path = store / f"{diff_id.removeprefix('sha256:')}.tar"
        if not path.is_file():
            raise ImageError(f"layer {diff_id[:19]} of image {image.digest} is not on this host")
        layers.append((diff_id, path))
    return layers


def _write_layout(out, document: dict, layers: list[tuple[str, Path]], tag: str) -> None:
    config = json.dumps(document, sort_keys=True).encode()
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
