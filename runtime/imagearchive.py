"""Reading an image: ``docker save`` output or an OCI image layout, as a tar, or an OCI layout directory.

The archive is a tenant's upload: nothing in it is extracted here. Its members
are looked up by name inside the tar (a symlink member is followed only to
another member of the archive, a few hops at most), its JSON documents are
size-capped, and in an OCI layout every blob is checked against its digest.
A layout directory (a Dockerfile build's output, ``Layout``) is read the same
way, its files opened by the caller's opener, which follows no link; a
blob nobody asks for is never opened.

- docker save: ``manifest.json`` = ``[{"Config": ..., "Layers": [...]}]``, the
  layers named by path, checked later against the config's ``rootfs.diff_ids``.
- OCI: ``index.json`` → a manifest (through at most one nested index, picking
  linux/amd64 or else the first) → ``config`` and ``layers`` by digest under
  ``blobs/<algorithm>/<hex>``.
"""

import hashlib
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass

from .errors import ImageError

MAX_JSON_BYTES = 4 << 20
MAX_MEMBERS = 100_000
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


def _norm(name: str) -> str:
    """A member name as the archive's documents write it: relative, without ./ or .. leaving the top."""
    return posixpath.normpath("/" + name).lstrip("/")


@dataclass(frozen=True)
class LayerRef:
    member: str          # the member holding the layer (plain tar or gzip)
    digest: str = ""     # OCI: the sha256 of the member's bytes, checked while it is read


class _Image:
    """The formats, over members a subclass opens: ``document`` and ``refs`` describe the image,
    ``open(ref)`` streams a layer."""

    def _open_member(self, name: str):
        """(a binary stream of member `name`, its size); ImageError when there is no such file."""
        raise NotImplementedError

    def _has(self, name: str) -> bool:
        raise NotImplementedError

    def open(self, ref: LayerRef):
        """A stream of the layer member's bytes (still compressed if it was)."""
        return self._open_member(ref.member)[0]

    def _json(self, name: str, digest: str = ""):
        stream, size = self._open_member(name)
        with stream:
            if size > MAX_JSON_BYTES:
                raise ImageError(f"archive member {name[:120]!r} is larger than {MAX_JSON_BYTES} bytes")
            data = stream.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:  # it grew after its size was read
            raise ImageError(f"archive member {name[:120]!r} is larger than {MAX_JSON_BYTES} bytes")
        if digest and f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise ImageError(f"archive blob {name[:120]!r} does not match its digest {digest}")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested beyond reason
            raise ImageError(f"archive member {name[:120]!r} is not valid JSON") from None

    # -- formats -------------------------------------------------------------

    def _read(self) -> tuple[dict, list[LayerRef]]:
        if self._has("manifest.json"):
            return self._docker()
        if self._has("index.json"):
            return self._oci()
        raise ImageError("the file is not an image archive: it has neither manifest.json (docker save) "
                         "nor index.json (an OCI image layout)")

    def _docker(self):
        manifest = self._json("manifest.json")
        if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
            raise ImageError("manifest.json must describe exactly one image (docker save one image at a time)")
        entry = manifest[0]
        config, layers = entry.get("Config"), entry.get("Layers")
        if not isinstance(config, str) or not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ImageError("manifest.json: Config must name a file and Layers list files")
        return self._json(config), [LayerRef(name) for name in layers]

    def _blob(self, descriptor) -> str:
        digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
        match = _DIGEST.match(digest or "")
        if not match:
            raise ImageError(f"OCI descriptor digest {str(digest)[:80]!r} is not sha256:<hex>")
        return f"blobs/sha256/{match.group(1)}"

    def _oci(self):
        manifest = self._pick(self._json("index.json"))
        if manifest.get("mediaType") in INDEX_TYPES:  # one nested index: a multi-platform image
            manifest = self._pick(self._json(self._blob(manifest), manifest["digest"]))
        document = self._json(self._blob(manifest), manifest["digest"])
        config, layers = document.get("config"), document.get("layers")
        if not isinstance(layers, list):
            raise ImageError("OCI manifest: layers must be a list")
        refs = [LayerRef(self._blob(layer), layer["digest"]) for layer in layers]
        return self._json(self._blob(config), config["digest"]), refs

    def _pick(self, index) -> dict:
        entries = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise ImageError("OCI index: manifests must list at least one image")
        for entry in entries:
            platform = entry.get("platform") or {}
            if isinstance(platform, dict) and (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
                return entry
        return entries[0]


class Archive(_Image):
    """An open image archive (a tar)."""

    def __init__(self, source):
        """`source`: a path, or a binary file object the caller opened (a build's output, opened without
        following links)."""
        try:
            if hasattr(source, "read"):
                self.tar = tarfile.open(fileobj=source, mode="r:*")
            else:
                self.tar = tarfile.open(source, "r:*")
            members = []
            for member in self.tar:
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise ImageError(f"the archive has more than {MAX_MEMBERS} members: not an image archive")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageError(f"the file is not an image archive (not a readable tar: {exc})") from None
        self.members = {_norm(m.name): m for m in members}
        self.document, self.refs = self._read()

    def close(self) -> None:
        self.tar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _has(self, name: str) -> bool:
        return name in self.members

    def _member(self, name: str) -> tarfile.TarInfo:
        name = _norm(name)
        for _ in range(8):
            member = self.members.get(name)
            if member is None:
                raise ImageError(f"the archive names {name[:120]!r} but does not hold it")
            if member.isreg():
                return member
            if not member.issym():
                raise ImageError(f"archive member {name[:120]!r} is not a file")
            name = _norm(posixpath.join(posixpath.dirname(name), member.linkname))
        raise ImageError(f"archive member {name[:120]!r}: too many links")

    def _open_member(self, name: str):
        member = self._member(name)
        return self.tar.extractfile(member), member.size


class Layout(_Image):
    """An OCI image layout directory, its files opened by `opener(name)`: (a binary file, its size), or
    None when there is no such file. The opener must follow no link (the directory is a tenant's)."""

    def __init__(self, opener):
        self.opener = opener
        self.opened: set[str] = set()
        self.document, self.refs = self._read()

    def names(self) -> set[str]:
        """The files the image consists of: its index, manifest, config and layers."""
        return self.opened | {ref.member for ref in self.refs}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _read(self) -> tuple[dict, list[LayerRef]]:
        # OCI only: its files are named by checked digests, never by the tenant's documents.
        if not self._has("index.json"):
            raise ImageError("the image layout has no index.json")
        return self._oci()

    def _has(self, name: str) -> bool:
        opened = self.opener(name)
        if opened is not None:
            opened[0].close()
        return opened is not None

    def _open_member(self, name: str):
        opened = self.opener(name)
        if opened is None:
            raise ImageError(f"the image layout names {name[:120]!r} but does not hold it")
        self.opened.add(name)
        return opened
