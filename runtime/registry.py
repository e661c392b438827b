"""Pulling an image from a registry (the Docker Registry HTTP API v2) into an OCI archive.

A reference comes from a tenant (a Dockerfile's ``FROM``): the platform's host
opens the connection, so only the registries the operator lists
(``PAAS_REGISTRY_ALLOW``, ``host[:port]`` each) are reached, plain HTTP only for
those also in ``PAAS_REGISTRY_INSECURE``. References without a registry (Docker
Hub's ``python:3.12``) go to ``PAAS_REGISTRY_MIRROR`` when one is set. Every blob
is checked against its digest, JSON documents are size-capped, and all layers
together are capped like an imported archive (PAAS_IMAGE_MAX_BYTES). The result
is an OCI image layout in a tar, which imagearchive.py reads like any upload.

A registry that asks for a login (``401`` with ``WWW-Authenticate``) gets the
credentials the caller holds for it (``paas registry:login``): HTTP basic auth,
or Docker's token auth (the credentials go to the token service the registry
names, itself a registry the platform may reach, for a bearer token). The
``Authorization`` header is never carried over a redirect to another host.

The registry of the Docker engine's builds (buildpacks/buildregistry.py) is the platform's own, on
loopback in plain HTTP: ``push_archive`` puts an image pulled here into it (a base the engine then pulls),
``pull_layout`` reads a built image back as an OCI layout, fetching only the layers the app lacks.
"""

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import config
from .errors import ImageError

TIMEOUT_S = 60
MAX_DOCUMENT_BYTES = 4 << 20
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$")
DOCKER_HUB = "docker.io"
_CHALLENGE = re.compile(r'([A-Za-z]+)="([^"]*)"')
MAX_SECRET_CHARS = 4096


@dataclass(frozen=True)
class Login:
    """What `paas registry:login` keeps for one registry: a username and a password or token."""

    username: str
    secret: str

    def __repr__(self):  # never the secret, in a traceback or a log line
        return f"Login({self.username!r}, ...)"


def check_registry(text: str) -> str:
    """`host[:port]` of a registry, as references and PAAS_REGISTRY_ALLOW name them; ImageError otherwise."""
    text = text.strip() if isinstance(text, str) else ""
    if not _REGISTRY.match(text) or len(text) > 255:
        raise ImageError(f"{text[:100]!r} is not a registry address such as registry.example:5000")
    return text


def reachable(registry: str) -> bool:
    """Whether this platform may open connections to `registry` (PAAS_REGISTRY_ALLOW or the mirror)."""
    return registry in config.registry_allow() or registry == config.registry_mirror()


def parse_challenge(header: str) -> tuple[str, dict]:
    """`Bearer realm="...",service="..."` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {key.lower(): value for key, value in _CHALLENGE.findall(rest)}


@dataclass(frozen=True)
class Reference:
    registry: str      # host[:port]
    repository: str    # library/python
    reference: str     # a tag or sha256:<hex>

    def __str__(self):
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{sep}{self.reference}"


def parse(text: str) -> Reference:
    """`registry/repository[:tag|@digest]`; Docker Hub's short forms are docker.io's."""
    text = text.strip()
    name, _, digest = text.partition("@")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    tag = "latest"
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    reference = digest or tag
    if not _REGISTRY.match(registry) or not _REPOSITORY.match(path) or not (
            _DIGEST.match(reference) if digest else _TAG.match(reference)):
        raise ImageError(f"{text[:200]!r} is not an image reference such as registry.example:5000/team/app:1.0")
    return Reference(registry, path, reference)


def _registry(ref: Reference) -> str:
    """The registry the platform connects to for `ref`: its own, or the mirror for Docker Hub's."""
    registry = ref.registry
    if registry == DOCKER_HUB:
        mirror = config.registry_mirror()
        if not mirror:
            raise ImageError(f"cannot pull {ref}: Docker Hub is not reachable from this platform "
                             "(set PAAS_REGISTRY_MIRROR, or name a registry: FROM host:port/name:tag)")
        registry = mirror
    if not reachable(registry):
        raise ImageError(f"cannot pull {ref}: registry {registry} is not one this platform pulls from "
                         "(PAAS_REGISTRY_ALLOW)")
    return registry


def _scheme(registry: str) -> str:
    return "http" if registry in config.registry_insecure() else "https"


class Session:
    """Requests to one registry for one image, answering its login challenge once with `login`."""

    def __init__(self, ref: Reference | None, registry: str, login: Login | None, scheme: str = ""):
        self.ref, self.registry, self.login = ref, registry, login
        self.base = f"{scheme or _scheme(registry)}://{registry}/v2" + (f"/{ref.repository}" if ref else "")
        self.what = f"cannot pull {ref}" if ref else f"cannot log in to {registry}"
        self.authorization, self.answered = "", False

    def get(self, url: str, accept: str = ""):
        try:
            return self._open(url, accept)
        except urllib.error.HTTPError as error:
            if error.code != 401 or self.authorization:
                raise self._refused(error) from None
            challenge = error.headers.get("WWW-Authenticate", "")
            error.close()
        self.authorization = self._answer(challenge)
        try:
            return self._open(url, accept)
        except urllib.error.HTTPError as error:
            raise self._refused(error) from None

    def send(self, method: str, url: str, data=None, headers: dict | None = None):
        """A request that writes (a push): the login is answered first (a body is sent once); the response,
        or the HTTPError of a status other than 2xx, raised for the caller to judge."""
        if not self.authorization and not self.answered:
            with self.get(f"{self.base.rsplit('/v2', 1)[0]}/v2/"):
                self.answered = True
        return self._open("", "", urllib.request.Request(url, data=data, headers=headers or {}, method=method))

    def _open(self, url: str, accept: str, request: urllib.request.Request | None = None):
        request = request or urllib.request.Request(url, headers={"Accept": accept} if accept else {})
        if self.authorization:
            # Unredirected: a blob's redirect to other storage does not carry the registry's credentials.
            request.add_unredirected_header("Authorization", self.authorization)
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError:
            raise
        except (OSError, ValueError) as error:
            raise ImageError(f"{self.what}: {error}") from None

    def _refused(self, error: urllib.error.HTTPError) -> ImageError:
        error.close()
        if error.code in (401, 403) and self.login is not None:
            return ImageError(f"{self.what}: registry {self.registry} refused the login of "
                              f"{self.login.username!r} ({error.code} {error.reason}); paas registry:login "
                              f"{self.registry} again")
        if error.code == 401:
            return ImageError(f"{self.what}: registry {self.registry} asks for a login "
                              f"(paas registry:login {self.registry})")
        return ImageError(f"{self.what}: the registry answered {error.code} {error.reason}")

    def _answer(self, challenge: str) -> str:
        """The Authorization header answering the registry's challenge (basic, or a bearer token)."""
        if self.login is None:
            raise ImageError(f"{self.what}: registry {self.registry} asks for a login "
                             f"(paas registry:login {self.registry})")
        basic = "Basic " + b64encode(f"{self.login.username}:{self.login.secret}".encode()).decode()
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            return basic
        if scheme != "bearer" or not params.get("realm"):
            raise ImageError(f"{self.what}: registry {self.registry} asks for a login this platform "
                             f"does not speak ({challenge[:60]!r})")
        return "Bearer " + self._token(params, basic)

    def _token(self, params: dict, basic: str) -> str:
        """A bearer token from the token service the registry names (itself one the platform may reach)."""
        realm = urllib.parse.urlsplit(params["realm"])
        host = realm.netloc
        if realm.scheme != _scheme(host) or not (host == self.registry or reachable(host)):
            raise ImageError(f"{self.what}: registry {self.registry} sends its login to {host[:100]}, "
                             "which is not a registry this platform reaches (PAAS_REGISTRY_ALLOW)")
        query = {key: params[key] for key in ("service", "scope") if key in params}
        if self.ref is not None:
            query.setdefault("scope", f"repository:{self.ref.repository}:pull")
        url = urllib.parse.urlunsplit((realm.scheme, host, realm.path, urllib.parse.urlencode(query), ""))
        request = urllib.request.Request(url)
        request.add_unredirected_header("Authorization", basic)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                data = response.read(MAX_DOCUMENT_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise self._refused(error) from None
        except (OSError, ValueError) as error:
            raise ImageError(f"{self.what}: the login service of {self.registry}: {error}") from None
        try:
            answer = json.loads(data) if len(data) <= MAX_DOCUMENT_BYTES else {}
        except (ValueError, UnicodeDecodeError, RecursionError):
            answer = {}
        token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token.isprintable() or len(token) > MAX_DOCUMENT_BYTES:
            raise ImageError(f"{self.what}: the login service of {self.registry} sent no token")
        return token


def verify(registry: str, login: Login) -> None:
    """Log in to `registry` (its /v2/ root) with `login`; ImageError naming the registry when refused."""
    registry = check_registry(registry)
    if not reachable(registry):
        raise ImageError(f"cannot log in to {registry}: it is not a registry this platform pulls from "
                         "(PAAS_REGISTRY_ALLOW)")
    with Session(None, registry, login).get(f"{_scheme(registry)}://{registry}/v2/"):
        pass


def _document(session: Session, url: str, digest: str = "", accept: str = "") -> tuple[bytes, str]:
    ref = session.ref
    with session.get(url, accept) as response:
        data = response.read(MAX_DOCUMENT_BYTES + 1)
        kind = response.headers.get("Content-Type", "")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ImageError(f"cannot pull {ref}: a manifest larger than {MAX_DOCUMENT_BYTES} bytes")
    if digest and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError(f"cannot pull {ref}: the registry's document does not match {digest}")
    return data, kind


def _manifest(session: Session) -> dict:
    base, ref = session.base, session.ref
    accept = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
    digest = ref.reference if ref.reference.startswith("sha256:") else ""
    data, kind = _document(session, f"{base}/manifests/{ref.reference}", digest, accept)
    document = _json(data, ref)
    if document.get("mediaType", kind.split(";")[0]) in INDEX_TYPES:
        entries = [e for e in document.get("manifests", []) if isinstance(e, dict)]
        chosen = next((e for e in entries if (e.get("platform") or {}).get("architecture") == "amd64"
                       and (e.get("platform") or {}).get("os") == "linux"), entries[0] if entries else None)
        if chosen is None or not _DIGEST.match(str(chosen.get("digest"))):
            raise ImageError(f"cannot pull {ref}: its index lists no linux/amd64 image")
        data, _ = _document(session, f"{base}/manifests/{chosen['digest']}", chosen["digest"], accept)
        document = _json(data, ref)
    if not isinstance(document.get("config"), dict) or not isinstance(document.get("layers"), list):
        raise ImageError(f"cannot pull {ref}: the registry's manifest is not an image manifest")
    return document


def _json(data: bytes, ref: Reference) -> dict:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ImageError(f"cannot pull {ref}: the registry sent a manifest that is not JSON") from None
    if not isinstance(document, dict):
        raise ImageError(f"cannot pull {ref}: the registry sent a manifest that is not an object")
    return document


def pull(text: str, dest: Path, logins: Mapping[str, Login] | None = None) -> Reference:
    """Pull image `text` into an OCI archive at `dest`, logging in with `logins` (by registry) where asked;
    ImageError saying what the registry answered."""
    ref, session, manifest = _resolve(text, logins)
    _write(session, manifest, dest)
    return ref


@dataclass(frozen=True)
class Pulled:
    """An image pulled into a directory of pulls (pull_into)."""

    ref: Reference
    archive: Path      # the OCI archive, named by its manifest's digest
    image_id: str      # the digest of its config (containers-storage's image id): sha256:<hex>


def pull_into(text: str, directory: Path, logins: Mapping[str, Login] | None = None) -> Pulled:
    """Image `text` as an OCI archive in `directory` (the platform's own), named by the digest of the
    manifest the registry gives for it now: only the manifest is fetched when that archive is there."""
    ref, session, manifest = _resolve(text, logins)
    name = hashlib.sha256(_manifest_bytes(manifest)).hexdigest()
    archive = directory / f"{name}.tar"
    if not archive.is_file():
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        try:
            _write(session, manifest, tmp)
            tmp.chmod(0o644)  # read by the build's uid through a read-only mount
            os.replace(tmp, archive)
        finally:
            tmp.unlink(missing_ok=True)
    return Pulled(ref, archive, manifest["config"]["digest"])


def _resolve(text: str, logins: Mapping[str, Login] | None) -> tuple[Reference, Session, dict]:
    ref = parse(text)
    registry = _registry(ref)
    session = Session(ref, registry, (logins or {}).get(registry))
    return ref, session, _checked_manifest(session)


def _checked_manifest(session: Session) -> dict:
    """The image manifest of session.ref, each of its blobs named by a sha256 digest."""
    manifest = _manifest(session)
    for d in [manifest["config"], *manifest["layers"]]:
        if not isinstance(d, dict) or not _DIGEST.match(str(d.get("digest"))):
            raise ImageError(f"cannot pull {session.ref}: a blob of its manifest has no sha256 digest")
    return manifest


def pull_layout(ref: Reference, login: Login | None, layout: Path, have: set[str], config_digest: str) -> int:
    """Image `ref` (by digest) of a registry the platform runs itself (the Docker engine's builds push
    there: buildpacks/buildregistry.py) as an OCI layout directory at `layout` (a fresh one of the
    platform's), spoken to in plain HTTP on loopback and not subject to PAAS_REGISTRY_ALLOW (no tenant
    names it). Its config must be `config_digest` (the image the caller made). A layer whose diff_id is
    in `have` (the app's proven ones) gets an empty stand-in, never fetched: the import takes it by its
    diff_id. Every blob fetched is checked against its digest, all of them together capped at
    PAAS_IMAGE_MAX_BYTES. Returns how many layer blobs were fetched; ImageError otherwise."""
    session = Session(ref, ref.registry, login, scheme="http")
    manifest = _checked_manifest(session)
    if manifest["config"]["digest"] != config_digest:
        raise ImageError(f"cannot pull {ref}: it is not the image {config_digest[:19]} (its config differs)")
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config_bytes, _ = _document(session, f"{session.base}/blobs/{config_digest}", config_digest)
    (blobs / config_digest[7:]).write_bytes(config_bytes)
    rootfs = _json(config_bytes, ref).get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(manifest["layers"]) or not all(
            isinstance(d, str) and _DIGEST.match(d) for d in diff_ids):
        raise ImageError(f"cannot pull {ref}: its config's diff_ids do not match its manifest's layers")
    budget, fetched = config.image_max_bytes(), 0
    for layer, diff_id in zip(manifest["layers"], diff_ids):
        path = blobs / layer["digest"][7:]
        if path.exists():  # the same blob twice in one image
            continue
        if diff_id in have:
            path.write_bytes(b"")  # a stand-in: the import of the owner's build never opens it
            continue
        budget -= _blob(session, layer["digest"], path, budget)
        fetched += 1
    data = _manifest_bytes(manifest)
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": MANIFEST_TYPES[0], "digest": f"sha256:{digest}", "size": len(data)}]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return fetched


def push_archive(archive: Path, ref: Reference, login: Login | None) -> str:
    """The image of OCI archive `archive` (one pull_into wrote: its blobs checked then) into repository
    ref.repository, tagged ref.reference, of a registry the platform runs itself (plain HTTP on loopback,
    as pull_layout): its blobs as they are, those the registry holds already skipped. The manifest's
    digest; ImageError with the registry's answer."""
    session = Session(ref, ref.registry, login, scheme="http")
    session.what = f"cannot push {ref}"
    try:
        with tarfile.open(archive) as tar:
            index = json.loads(_member(tar, "index.json"))
            data = _member(tar, f"blobs/sha256/{index['manifests'][0]['digest'][7:]}")
            manifest = json.loads(data)
            for d in [manifest["config"], *manifest["layers"]]:
                _push_blob(session, d["digest"], tar, f"blobs/sha256/{d['digest'][7:]}")
    except (KeyError, IndexError, TypeError, ValueError, tarfile.TarError) as error:
        raise ImageError(f"{session.what}: {archive.name} is not an image archive pull_into wrote ({error!r:.100})") from None
    kind = manifest.get("mediaType") or MANIFEST_TYPES[0]
    _sent(session, "PUT", f"{session.base}/manifests/{ref.reference}", data, {"Content-Type": kind}).close()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.getmember(name)
    if not member.isreg() or member.size > MAX_DOCUMENT_BYTES:
        raise ImageError(f"{name} of a pulled image is not a document")
    return tar.extractfile(member).read()


def _push_blob(session: Session, digest: str, tar: tarfile.TarFile, name: str) -> None:
    """One blob into the repository unless the registry has it there (a monolithic upload: POST, then PUT)."""
    try:
        with session.send("HEAD", f"{session.base}/blobs/{digest}"):
            return
    except urllib.error.HTTPError as error:
        error.close()
        if error.code != 404:
            raise session._refused(error) from None
    member = tar.getmember(name)
    with _sent(session, "POST", f"{session.base}/blobs/uploads/", b"", {}) as response:
        location = urllib.parse.urljoin(f"{session.base}/", response.headers.get("Location", ""))
    if urllib.parse.urlsplit(location).netloc != session.registry:
        raise ImageError(f"{session.what}: the registry sends the upload to another host")
    separator = "&" if "?" in location else "?"
    _sent(session, "PUT", f"{location}{separator}digest={digest}", tar.extractfile(member),
          {"Content-Type": "application/octet-stream", "Content-Length": str(member.size)}).close()


def _sent(session: Session, method: str, url: str, data, headers: dict):
    try:
        return session.send(method, url, data, headers)
    except urllib.error.HTTPError as error:
        raise session._refused(error) from None


def _manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest).encode()


def _write(session: Session, manifest: dict, dest: Path) -> None:
    """The manifest's blobs, each checked, into an OCI archive at `dest`."""
    ref = session.ref
    descriptors = [manifest["config"], *manifest["layers"]]
    budget = config.image_max_bytes()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".pull-") as work:
        blobs = Path(work)
        for d in descriptors:
            budget -= _blob(session, d["digest"], blobs / d["digest"][7:], budget)
        # Docker's v2 media types are read by imagearchive.py like OCI's; the index names the manifest.
        manifest_bytes = _manifest_bytes(manifest)
        manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": MANIFEST_TYPES[0], "digest": manifest_digest, "size": len(manifest_bytes),
            "annotations": {"org.opencontainers.image.ref.name": str(ref)}}]}
        with tarfile.open(dest, "w") as tar:
            _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
            _add(tar, "index.json", json.dumps(index).encode())
            _add(tar, f"blobs/sha256/{manifest_digest[7:]}", manifest_bytes)
            for d in descriptors:
                tar.add(blobs / d["digest"][7:], f"blobs/sha256/{d['digest'][7:]}", recursive=False)


def _blob(session: Session, digest: str, path: Path, budget: int) -> int:
    ref = session.ref
    sha, size = hashlib.sha256(), 0
    with session.get(f"{session.base}/blobs/{digest}") as response, open(path, "wb") as out:
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > budget:
                raise ImageError(f"cannot pull {ref}: larger than {config.image_max_bytes()} bytes "
                                 "(PAAS_IMAGE_MAX_BYTES)")
            sha.update(chunk)
            out.write(chunk)
    if "sha256:" + sha.hexdigest() != digest:
        raise ImageError(f"cannot pull {ref}: blob {digest[:19]} does not match its digest")
    return size


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
