"""Tiny image archives made in Python: docker save and OCI layouts, and their layers, for the import tests."""

import gzip
import hashlib
import io
import json
import tarfile


def member(name, data=b"", *, kind=tarfile.REGTYPE, mode=0o644, linkname="", uid=0, devmajor=0):
    """(TarInfo, bytes) for a layer."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.uid, info.gid = kind, mode, linkname, uid, uid
    info.devmajor = devmajor
    if kind == tarfile.DIRTYPE and mode == 0o644:
        info.mode = 0o755
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def layer(*members) -> bytes:
    """An uncompressed layer tar of `members` (from member())."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def files(mapping: dict, mode=0o755) -> bytes:
    """A layer of regular files {path: bytes}."""
    return layer(*(member(name, data, mode=mode) for name, data in mapping.items()))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_document(layers, **run) -> dict:
    """An image config: `run` holds config keys (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts)."""
    return {"architecture": "amd64", "os": "linux", "config": run,
            "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]}}


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def docker_save(path, layers, *, document=None, **run):
    """`docker save` format: manifest.json, <config>.json, <n>/layer.tar."""
    document = document or config_document(layers, **run)
    config = json.dumps(document).encode()
    with tarfile.open(path, "w") as tar:
        names = []
        for i, data in enumerate(layers):
            names.append(f"{i}/layer.tar")
            _add(tar, names[-1], data)
        _add(tar, "config.json", config)
        _add(tar, "manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["t:1"], "Layers": names}]).encode())
    return path


def oci_layout(path, layers, *, gzip_layers=True, document=None, **run):
    """An OCI image layout, its layers gzip-compressed by default."""
    document = document or config_document(layers, **run)
    blobs = {}

    def blob(data):
        blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    config = blob(json.dumps(document).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    descriptors = []
    for data in layers:
        stored = gzip.compress(data, mtime=0) if gzip_layers else data
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(stored)})
    manifest = blob(json.dumps({"schemaVersion": 2, "config": config, "layers": descriptors}).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [manifest]}).encode())
        for digest, data in blobs.items():
            _add(tar, f"blobs/sha256/{digest.split(':')[1]}", data)
    return path


def oci_dir(root, layers, *, omit=(), **run):
    """An OCI image layout as a directory (what a Dockerfile build leaves), its layers uncompressed as
    buildah pushes them; the blobs of `omit` (layers) left out."""
    from pathlib import Path

    root = Path(root)
    root.mkdir(parents=True)
    archive = root.with_suffix(".tar")
    with tarfile.open(oci_layout(archive, layers, gzip_layers=False, **run)) as tar:
        tar.extractall(root, filter="data")
    archive.unlink()
    for data in omit:
        (root / "blobs" / "sha256" / sha(data).split(":")[1]).unlink()
    return root


def read_dir(root):
    """An imagearchive.Layout over the directory `root` (the platform's own, so plain opens will do)."""
    from paas.runtime.imagearchive import Layout

    def opener(name):
        path = root / name
        return (open(path, "rb"), path.stat().st_size) if path.is_file() else None

    return Layout(opener)


_PROBE: list[bytes] = []


def probe_binary() -> bytes:
    """The static probe (tests/runtime/data/probe.c) that test images run: compiled once per session."""
    import subprocess
    import tempfile
    from pathlib import Path

    if not _PROBE:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "probe"
            subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(Path(__file__).parent / "data" / "probe.c")],
                           check=True)
            _PROBE.append(out.read_bytes())
    return _PROBE[0]
