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
- **Context**: made here from the checked-out tree (enginecontext.py), streamed to the engine and
  capped at PAAS_MAX_PUSH_BYTES.
- **Time and cancel**: the build's request is cut (its socket shut) at the limit or on cancel; the
  engine then kills and removes the step's container. So are its push of the image and its pull of a
  base through the build registry (enginepush.engine_stream).
- **Cache per app**: each build is asked to reuse only the steps of that app's last image
  (``cachefrom``, tagged ``paas-build/<app>:<app id>``: a name taken again after a destroy is another
  app), never another app's. What destroyed apps leave is collected (enginegc.py).
- **Result**: an OCI layout in the build's work directory: the image pushed to the build registry and
  only the layers the app has not proven fetched back (enginepush.py, buildregistry.py), or without
  PAAS_BUILD_REGISTRY ``docker save`` of the whole image (engineimages.py, which also loads the bases).

- **Caps**: memory per step, and where the engine is this host's with the cgroupfs driver, the
  build's memory and pids caps over all its steps together (BuildCgroup, the ``cgroupparent``).

The engine runs a step's container as its own root with its default confinement (the classic
build API has no user or capability setting): an operator who configures an engine trusts it to
hold tenants' builds.
"""

import json
import os
import queue
import re
import time
from pathlib import Path

from paas.runtime import images
from paas.runtime.dockerbackend import bridge_name, ensure_network, remove_network
from paas.runtime.errors import ImageError, RuntimeLayerError

from . import buildregistry, dockerbases, dockerfile, enginecontext, engineimages, enginepush
from .enginestream import MAX_LINE, cut, next_message, start_reading
from .errors import BuildError

CACHE_REPOSITORY = "paas-build"     # the engine's tag of an app's last built image: cache_tag()
_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S*)", re.IGNORECASE)
_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})$")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the engine marks a step's stderr in red


def cache_tag(app: str, app_id: int) -> str:
    """The engine's tag of the app's last built image (the next build's cache): by name and id, so an app
    made later under a destroyed one's name never starts from its steps."""
    return f"{CACHE_REPOSITORY}/{app}:{app_id}"


class Engine:
    """A Docker engine building one app's Dockerfiles (a dockerfile.ImageBuilder)."""

    def __init__(self, base_url: str, app: str, app_id: int, *, memory_mb: int, max_context_bytes: int,
                 registry: buildregistry.BuildRegistry | None = None):
        """`registry`: where the built image leaves the engine (default: PAAS_BUILD_REGISTRY's, else docker save)."""
        self.base_url, self.app, self.app_id = base_url, app, app_id
        self.memory_mb, self.max_context_bytes, self.registry = memory_mb, max_context_bytes, registry

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
        registry = self.registry or buildregistry.from_env()
        limit = enginepush.Limit(deadline, cancel, timeout)
        bases = dockerbases.pull(dockerfile.base_images(text), pulls, logins, on_output, owner)
        ids = {}
        for base in bases:
            ids[base.name] = engineimages.load_base(api, pulls / base.archive, base, registry, limit)
        sent = rewrite(text, ids)
        on_output(f"-----> Building the {dockerfile.FILE_NAME} on the Docker engine")
        tag = cache_tag(self.app, self.app_id)
        previous = engineimages.engine_id(api, tag)
        steps = network or self._network(api)
        group = self._cgroup(api)
        try:
            params = {"t": tag, "rm": "1", "forcerm": "1", "pull": "0", "networkmode": steps,
                      "memory": self.memory_mb << 20, "memswap": self.memory_mb << 20,
                      # Only this app's last image is a cache; an empty list would mean every image of the engine.
                      "cachefrom": json.dumps([tag]), "labels": json.dumps({"paas.app": self.app})}
            if group is not None:
                params["cgroupparent"] = group.parent
            chunks = enginecontext.context(source_dir, sent.encode(), self.max_context_bytes)
            image_id = run_build(api, params, chunks, on_output, deadline, cancel, timeout)
        finally:
            if network is None:
                _remove_network(api, steps)
            if group is not None:
                group.remove()
        proven = set(images.proven_layers(owner)) if owner is not None else set()
        layout = work / dockerfile.LAYOUT
        try:
            if registry is None:
                on_output("-----> Exporting the image")
                engineimages.export(api, image_id, layout, proven)
            else:
                on_output("-----> Pushing the image to the build registry")
                enginepush.export(api, registry, self.app, self.app_id, image_id, layout, proven, on_output, limit)
        except ImageError as error:
            raise BuildError(f"the built image cannot be used: {error}") from None
        if previous and previous != image_id:
            engineimages.remove_image(api, previous)
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

    def _cgroup(self, api) -> "BuildCgroup | None":
        """The cgroup of the build's steps, where the engine is this host's and makes its containers' cgroups
        itself (its cgroupfs driver): None for another engine, whose steps have the memory cap alone."""
        try:
            driver = api.info().get("CgroupDriver")
        except Exception as exc:  # noqa: BLE001 (the engine's client raises its own and the socket's)
            raise BuildError(f"the Docker engine of the builds does not answer: {str(exc)[:300]}") from None
        if driver != "cgroupfs" or not self.base_url.startswith("unix://"):
            return None
        try:
            return BuildCgroup(f"engine-build-{self.app}", self.memory_mb)
        except (RuntimeLayerError, OSError) as exc:
            raise BuildError(f"the build's cgroup for the Docker engine could not be made: {str(exc)[:300]}") from None

    def _network(self, api) -> str:
        name = f"paas-build-{self.app}"
        try:
            return ensure_network(api, name, bridge_name(self.app, "build"), self.app)
        except RuntimeLayerError as error:
            raise BuildError(str(error)) from None


class BuildCgroup:
    """A cgroup of the platform's (runtime/cgroups.py) under which the engine makes each step's container
    (the build API's ``cgroupparent``): the build's caps on memory and pids hold for all its steps
    together, as a build container's do (a fork bomb in a RUN step stops at BUILD_PIDS)."""

    def __init__(self, name: str, memory_mb: int):
        from paas.runtime import cgroups, config
        from paas.runtime.spec import Limits

        from .containerexec import BUILD_PIDS

        self.cgroup = cgroups.cgroup_for(name)
        self.cgroup.create(Limits(memory=memory_mb << 20, pids=BUILD_PIDS))
        self.parent = f"/{config.CGROUP_PARENT}/{name}"

    def dirs(self) -> list[Path]:
        """Its directories in every hierarchy (on cgroup v1 the engine makes some beyond the platform's)."""
        from paas.runtime import cgroups

        if cgroups.version() == 2:
            return self.cgroup.dirs()
        root = Path("/sys/fs/cgroup")
        return [d for d in (root / c / self.parent.lstrip("/") for c in sorted(os.listdir(root))) if d.is_dir()]

    def remove(self) -> None:
        """Whatever of the steps is left is killed, the cgroup removed (what the engine made in it goes first)."""
        from paas.runtime.errors import CgroupError

        for directory in self.dirs():
            for child in (p for p in directory.iterdir() if p.is_dir()):
                try:
                    child.rmdir()
                except OSError:
                    pass  # still in use: the removal below kills and waits
        try:
            self.cgroup.remove()
        except CgroupError:
            pass  # the next build of the app makes it again and removes it after
        for directory in self.dirs():
            try:
                directory.rmdir()
            except OSError:
                pass


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
    events, reader = start_reading(response)
    made = []  # the images of the steps, as the engine names them (" ---> 0123456789ab")

    def seen(line: str) -> None:
        if match := _STEP_IMAGE.match(line):
            made.append(match.group(1))
        on_output(line)

    failed = True
    try:
        image_id = _follow(events, seen, deadline, cancel, timeout)
        failed = False
        return image_id
    finally:
        cut(response)
        reader.join(10)
        if failed:  # no later build starts from them (the cache is the app's last image alone)
            engineimages.drop_steps(api, made)


def _follow(events: queue.Queue, on_output, deadline: float, cancel, timeout: float) -> str:
    """The build's messages until its end: output lines handed on, an error raised, the image's id."""
    lines = _Lines(on_output)
    image_id = ""
    while (raw := next_message(events, deadline, cancel, timeout)) is not None:
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


# -- the engine's leftovers -------------------------------------------------------------------


def _remove_network(api, name: str) -> None:
    import docker.errors

    try:
        remove_network(api, name)
    except (docker.errors.DockerException, OSError):
        pass  # the next build of the app uses it again
