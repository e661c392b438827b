"""Dockerfile builds on a Docker engine (PAAS_BUILD_DOCKER_HOST), through the engine's build API.

Where the operator names an engine, a Dockerfile build goes to it instead of buildah in a build
container (dockerfile.py), with the same contract: the same bases, errors, time limit and cancel,
output handed over line by line, and the result an OCI layout the pipeline imports as the tenant's
data. What differs is where each rule is kept:

- **Bases**: the platform pulls every image the Dockerfile reads (``FROM``, ``COPY --from``) as for
  buildah (dockerbases.pull: allowed registries only, digests checked, the app's logins staying
  here) and loads it into the engine under its image id; the Dockerfile sent names each by that id
  (``FROM sha256:...``), so the engine has nothing to pull, no tag of another app's build is ever
  used, and a reference the engine would resolve itself is refused (``ADD`` of a URL, a parser
  directive changing the escape character, a base carrying ``ONBUILD`` triggers): the engine's
  daemon runs on the host's network, where it must fetch nothing for a tenant.
- **Network**: the steps run on an engine network of the app's builds, a bridge of the docker
  backend's family (PAAS_DOCKER_BRIDGE, PAAS_DOCKER_POOL) and so behind the same platform rules
  (firewall.py): the outside, never the host or its services; names resolved by the platform's
  forwarder on its gateway (dockerdns.py).
- **Context**: made here from the checked-out tree (tenantfs.walk: links go in as links, never
  followed; FIFOs and devices refused), ``.dockerignore`` honoured, streamed to the engine and
  capped at PAAS_MAX_PUSH_BYTES.
- **Time and cancel**: the build's request is cut (its socket shut) at the limit or on cancel; the
  engine then kills and removes the step's container.
- **Cache per app**: each build is asked to reuse only the steps of that app's last image
  (``cachefrom``, tagged ``paas-build/<app>:latest``), never another app's.
- **Result**: ``docker save`` of the image, read as a stream (never extracted) into an OCI layout in
  the build's work directory: a layer the app has proven (images.proven) gets an empty stand-in,
  which the import never opens.

The engine runs a step's container as its own root with its default confinement (the classic
build API has no user, capability or pids setting): an operator who configures an engine trusts
it to hold tenants' builds.
"""

import hashlib
import io
import json
import os
import posixpath
import queue
import re
import socket
import stat
import tarfile
import threading
import time
from pathlib import Path

from paas.runtime import config, images
from paas.runtime.dockerbackend import bridge_name, ensure_network, remove_network
from paas.runtime.errors import ImageError, RuntimeLayerError
from paas.runtime.imagearchive import Archive

from . import dockerbases, dockerfile, tenantfs
from .errors import BuildCancelled, BuildError, BuildTimeout

CACHE_REPOSITORY = "paas-build"     # the engine's tag of an app's last built image: paas-build/<app>:latest
CHUNK = 1 << 20
MAX_LINE = 4000                     # a longer output line is cut (a step printing a megabyte on one line)
MAX_DOCUMENT = 4 << 20              # a JSON member of docker save's output
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CANCEL_POLL_S = 0.2
_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S*)", re.IGNORECASE)
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the engine marks a step's stderr in red


class Engine:
    """A Docker engine building one app's Dockerfiles (a dockerfile.ImageBuilder)."""

    def __init__(self, base_url: str, app: str, *, memory_mb: int, max_context_bytes: int):
        self.base_url, self.app = base_url, app
        self.memory_mb, self.max_context_bytes = memory_mb, max_context_bytes

    def build_image(self, source_dir: str, work_dir: str, *, on_output, timeout: float, cancel=None, logins=None,
                    bases_dir: str | None = None, owner: int | None = None,
                    network: str | None = None) -> dockerfile.ImageBuild:
        """The Dockerfile of source_dir built on the engine, the image as an OCI layout in work_dir.
        `network`: the engine network of the steps (tests only; default: the app's sandboxed one)."""
        deadline = time.monotonic() + timeout
        text = dockerfile.read_dockerfile(source_dir)
        refuse_engine_fetches(text)
        work = Path(work_dir)
        pulls = Path(bases_dir) if bases_dir else work / "bases"
        pulls.mkdir(parents=True, exist_ok=True, mode=0o755)
        api = self._client()
        bases = dockerbases.pull(dockerfile.base_images(text), pulls, logins, on_output, owner)
        ids = {}
        for base in bases:
            ids[base.name] = load_base(api, pulls / base.archive, base)
        sent = rewrite(text, ids)
        on_output(f"-----> Building the {dockerfile.FILE_NAME} on the Docker engine")
        tag = f"{CACHE_REPOSITORY}/{self.app}:latest"
        previous = _image_id(api, tag)
        steps = network or self._network(api)
        try:
            params = {"t": tag, "rm": "1", "forcerm": "1", "pull": "0", "networkmode": steps,
                      "memory": self.memory_mb << 20, "memswap": self.memory_mb << 20,
                      # Only this app's last image is a cache; an empty list would mean every image of the engine.
                      "cachefrom": json.dumps([tag]), "labels": json.dumps({"paas.app": self.app})}
            chunks = context(source_dir, sent.encode(), self.max_context_bytes)
            image_id = run_build(api, params, chunks, on_output, deadline, cancel, timeout)
        finally:
            if network is None:
                _remove_network(api, steps)
        on_output("-----> Exporting the image")
        proven = set(images.proven_layers(owner)) if owner is not None else set()
        layout = work / dockerfile.LAYOUT
        try:
            export(api, image_id, layout, proven)
        except ImageError as error:
            raise BuildError(f"the built image cannot be used: {error}") from None
        if previous and previous != image_id:
            _remove_image(api, previous)
        if bases_dir:
            dockerbases.forget_others(pulls, bases)
        from .procfile import read_procfile

        return dockerfile.ImageBuild(layout=layout, process_types=read_procfile(source_dir) or {"web": ""})

    def _client(self):
        import docker

        try:
            return docker.APIClient(base_url=self.base_url, version="auto", timeout=120)
        except (docker.errors.DockerException, OSError) as exc:
            raise BuildError(f"the Docker engine of the builds (PAAS_BUILD_DOCKER_HOST) does not answer: "
                             f"{str(exc)[:300]}") from None

    def _network(self, api) -> str:
        name = f"paas-build-{self.app}"
        try:
            return ensure_network(api, name, bridge_name(self.app, "build"), self.app)
        except RuntimeLayerError as error:
            raise BuildError(str(error)) from None


def refuse_engine_fetches(text: str) -> None:
    """BuildError for what would make the engine's daemon fetch something itself (on the host's network)
    or parse the Dockerfile otherwise than base_images does."""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = _ESCAPE.match(line)
        if match and match.group(1) != "\\":
            raise BuildError(f"{dockerfile.FILE_NAME}: the escape directive is not supported by the Docker engine build")
    for first, _, keyword, words in dockerfile.instructions(text):
        if keyword == "ADD" and any("://" in word or word.startswith("git@") for word in words):
            raise BuildError(f"{dockerfile.FILE_NAME} line {first + 1}: ADD of a URL is not available; "
                             "fetch it in a RUN step (which reaches the outside) instead")


def rewrite(text: str, ids: dict[str, str]) -> str:
    """The Dockerfile with every base it names (FROM, COPY --from) replaced by its engine image id.
    An instruction spanning lines becomes one line followed by empty ones (line numbers stay)."""
    lines = text.splitlines()
    for first, last, keyword, words in dockerfile.instructions(text):
        found = dockerfile.from_image(words) if keyword == "FROM" else (
            dockerfile.copy_source(words) if keyword in ("COPY", "ADD") else None)
        if found is None or found[1] not in ids:
            continue
        index, name = found
        words = list(words)
        words[index] = ids[name] if keyword == "FROM" else f"--from={ids[name]}"
        lines[first:last + 1] = [" ".join([keyword, *words])] + [""] * (last - first)
    result = "\n".join(lines) + "\n"
    left = [name for name in dockerfile.base_images(result) if name not in ids.values()]
    if left:  # the engine would pull it itself: never
        raise BuildError(f"{dockerfile.FILE_NAME}: cannot tell which image {left[0][:100]} is; "
                         "write each FROM and COPY --from on lines of their own")
    return result


def load_base(api, archive: Path, base: dockerbases.Base) -> str:
    """The base (an OCI archive the platform pulled) in the engine: its image id there."""
    import docker.errors

    image_id = f"sha256:{base.image_id}"
    if _image_id(api, image_id):
        _refuse_triggers(base, (api.inspect_image(image_id).get("Config") or {}).get("OnBuild"))
        return image_id
    with Archive(archive) as pulled:
        _refuse_triggers(base, (pulled.document.get("config") or {}).get("OnBuild"))
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
    if not _image_id(api, image_id):
        raise BuildError(f"the Docker engine did not load the base image {base.name[:200]}")
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


# -- the context ------------------------------------------------------------------------------


def context(source_dir: str, dockerfile_text: bytes, limit: int):
    """The build context as tar bytes, chunk by chunk: the Dockerfile given, then the tree (without
    .git and what .dockerignore excludes). TreeError or BuildError (raised while it is read) when the
    tree breaks a rule or passes `limit` bytes."""
    ignore = _ignore(source_dir)
    sent = 0

    def header(info: tarfile.TarInfo) -> bytes:
        nonlocal sent
        sent += info.size + 512
        if sent > limit:
            raise BuildError(f"the build context is over {limit} bytes (PAAS_MAX_PUSH_BYTES)")
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    info = tarfile.TarInfo(dockerfile.FILE_NAME)
    info.size, info.mode = len(dockerfile_text), 0o644
    yield header(info) + dockerfile_text + _padding(info.size)
    for entry in tenantfs.walk(source_dir, skip_top=frozenset({".git", dockerfile.FILE_NAME})):
        if ignore is not None and ignore.matches(entry.rel):
            entry.prune = entry.is_dir and not any(p.exclusion for p in ignore.patterns)
            continue
        info = tarfile.TarInfo(entry.rel)
        info.mode, info.mtime = stat.S_IMODE(entry.st.st_mode), int(entry.st.st_mtime)
        if entry.is_dir:
            info.type = tarfile.DIRTYPE
            yield header(info)
        elif entry.is_link:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry.name, dir_fd=entry.dir_fd)
            yield header(info)
        elif entry.is_regular:
            yield from _file(entry, info, header)
        else:
            raise tenantfs.TreeError(f"{tenantfs.shown(entry.rel)} is {tenantfs.kind(entry.st.st_mode)}: "
                                     "not something a build context holds")
    yield b"\0" * 1024


def _file(entry: tenantfs.Entry, info: tarfile.TarInfo, header):
    fd, st = tenantfs.open_regular(entry.dir_fd, entry.name, tenantfs.shown(entry.rel))
    with os.fdopen(fd, "rb") as f:
        info.size = st.st_size
        yield header(info)
        left = st.st_size
        while left:
            chunk = f.read(min(left, CHUNK))
            if not chunk:
                raise tenantfs.TreeError(f"{tenantfs.shown(entry.rel)} changed while it was being read")
            left -= len(chunk)
            yield chunk
    yield _padding(info.size)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % 512)


def _ignore(source_dir: str):
    """.dockerignore's patterns (as the docker CLI reads them), or None."""
    from docker.utils.build import PatternMatcher

    raw = tenantfs.read_file(source_dir, ".dockerignore", 64 << 10)
    if raw is None:
        return None
    patterns = [line.strip() for line in raw.decode("utf-8", "replace").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    # Never left out: the Dockerfile the build reads (sent first) and .dockerignore, as the CLI does.
    patterns = [p for p in patterns if p.lstrip("!").strip("/") not in (dockerfile.FILE_NAME, ".dockerignore")]
    return PatternMatcher(patterns) if patterns else None


# -- the build --------------------------------------------------------------------------------


def run_build(api, params: dict, chunks, on_output, deadline: float, cancel, timeout: float) -> str:
    """POST /build with the context `chunks`; its output to on_output line by line; the image's id.
    Cut at the deadline or on cancel (BuildTimeout, BuildCancelled)."""
    import requests

    failure = []

    def upload():
        try:
            yield from chunks
        except BaseException as error:  # the context broke a rule: the upload stops, the reason is kept
            failure.append(error)
            raise

    try:
        response = api.post(api._url("/build"), params=params, data=upload(),
                            headers={"Content-Type": "application/x-tar"}, stream=True, timeout=(30, None))
    except (requests.RequestException, OSError) as exc:
        if failure and isinstance(failure[0], BuildError):
            raise failure[0] from None
        raise BuildError(f"the Docker engine of the builds did not take the build: {str(exc)[:300]}") from None
    if failure:
        response.close()
        raise failure[0] if isinstance(failure[0], BuildError) else BuildError("the build context could not be sent")
    if response.status_code != 200:
        message = response.text[:300].strip()
        response.close()
        raise BuildError(f"the Docker engine refused the build: {message}")
    events = queue.Queue()
    reader = threading.Thread(target=_read_events, args=(response, events), daemon=True)
    reader.start()
    try:
        return _follow(events, on_output, deadline, cancel, timeout)
    finally:
        _cut(response)
        reader.join(10)


def _read_events(response, events: queue.Queue) -> None:
    """The build's JSON messages, one per line, onto `events`; None at the end."""
    pending = b""
    try:
        for data in response.iter_content(chunk_size=None):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    events.put(line)
            if len(pending) > MAX_DOCUMENT:
                events.put(pending[:MAX_LINE])
                pending = b""
        if pending.strip():
            events.put(pending)
    except Exception:  # cut (timeout, cancel) or the engine gone: the caller decides which
        events.put(b'{"error": "the Docker engine stopped answering"}')
    events.put(None)


def _follow(events: queue.Queue, on_output, deadline: float, cancel, timeout: float) -> str:
    """The build's messages until its end: output lines handed on, an error raised, the image's id."""
    lines = _Lines(on_output)
    image_id = ""
    while (raw := _next(events, deadline, cancel, timeout)) is not None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"stream": raw.decode("utf-8", "replace") + "\n"}
        if not isinstance(message, dict):
            continue
        if message.get("error"):
            lines.flush()
            raise BuildError(f"the {dockerfile.FILE_NAME} build failed: {_one_line(message['error'])} "
                             "(its output is above)")
        aux = message.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        lines.add(str(message.get("stream") or ""))
    lines.flush()
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", image_id):
        raise BuildError(f"the Docker engine did not say which image the {dockerfile.FILE_NAME} built")
    return image_id


def _next(events: queue.Queue, deadline: float, cancel, timeout: float) -> bytes | None:
    """The next message of the build (None at its end), waiting no longer than the deadline or a cancel."""
    while True:
        if cancel is not None and cancel.is_set():
            raise BuildCancelled("the build was cancelled")
        left = deadline - time.monotonic()
        if left <= 0:
            raise BuildTimeout(f"the {dockerfile.FILE_NAME} build ran longer than {timeout:.0f} s and was stopped")
        try:
            return events.get(timeout=min(left, CANCEL_POLL_S) if cancel is not None else left)
        except queue.Empty:
            continue


class _Lines:
    """The build's output text (in pieces, not always whole lines) to on_output line by line, each capped."""

    def __init__(self, on_output):
        self.on_output, self.text = on_output, ""

    def add(self, text: str) -> None:
        *lines, self.text = (self.text + _COLOUR.sub("", text)).split("\n")
        for line in lines:
            self.on_output(line.rstrip("\r")[:MAX_LINE])
        self.text = self.text[-MAX_LINE:]

    def flush(self) -> None:
        if self.text:
            self.on_output(self.text.rstrip("\r")[:MAX_LINE])
        self.text = ""


def _one_line(value) -> str:
    return " ".join(str(value).split())[:300]


def _cut(response) -> None:
    """End the build's request now: the socket shut (which wakes the reader), so the engine stops
    the build and removes its step's container."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()


# -- the result -------------------------------------------------------------------------------


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


def export(api, image_id: str, layout: Path, proven: set[str]) -> None:
    """`docker save` of image_id, read as a stream, into an OCI layout at `layout` (a fresh directory of
    the platform's). Layers `proven` (diff_ids) get an empty stand-in: the import takes them unread."""
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
                    digests[name] = _layer_blob(tar.extractfile(member), blobs, proven)
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


def _layer_blob(stream, blobs: Path, proven: set[str]) -> tuple[str, int]:
    """One layer into the layout, named by its digest (its diff_id: docker save's layers are plain tars)."""
    sha, size = hashlib.sha256(), 0
    tmp = blobs / f".layer.{threading.get_ident()}"
    with open(tmp, "wb") as out:
        while chunk := stream.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    digest = f"sha256:{sha.hexdigest()}"
    if digest in proven:
        tmp.write_bytes(b"")  # a stand-in: the import of the owner's build never opens it
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


# -- the engine's leftovers -------------------------------------------------------------------


def _image_id(api, ref: str) -> str:
    import docker.errors

    try:
        return api.inspect_image(ref)["Id"]
    except docker.errors.NotFound:
        return ""
    except (docker.errors.DockerException, OSError) as exc:
        raise BuildError(f"the Docker engine of the builds does not answer: {str(exc)[:300]}") from None


def _remove_image(api, image_id: str) -> None:
    """An app's earlier build image once no tag names it (its layers still under the new one stay)."""
    import docker.errors

    try:
        api.remove_image(image_id)
    except (docker.errors.DockerException, OSError):
        pass  # still a parent of the new image, or in use: left to the engine's gc (dockergc)


def _remove_network(api, name: str) -> None:
    import docker.errors

    try:
        remove_network(api, name)
    except (docker.errors.DockerException, OSError):
        pass  # the next build of the app uses it again
