"""A built image out of the Docker engine through the build registry (buildregistry.py), not docker save.

The engine pushes the image to the app's repository (``paas-build/<app>:<app id>``): only the layers the
registry lacks travel (the engine asks with HEAD first), so a warm build sends its new layers alone.
The worker then reads the manifest by the digest the push reported and fetches only the layers whose
diff_ids the app has not proven (runtime/registry.py pull_layout: every blob checked against its digest,
all capped at PAAS_IMAGE_MAX_BYTES): the result is the same OCI layout engineimages.export writes, its
proven layers empty stand-ins the import never opens.

Push and fetch hold the registry's collection lock shared (collection holds it exclusively: enginegc.py),
so a collection never removes a blob between a push and its fetch.
"""

import contextlib
import fcntl
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from paas.runtime import registry as registry_client
from .buildregistry import REPOSITORY, BuildRegistry
from .enginestream import cut, next_message, start_reading
from .errors import BuildError

LOCK_NAME = "gc.lock"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
log = logging.getLogger("paas.buildpacks.enginepush")


@dataclass
class Pushed:
    digest: str        # the manifest's, as the engine reported it
    sent: int          # layers the engine uploaded
    present: int       # layers the registry had already (or mounted from another repository of it)


@contextlib.contextmanager
def collection_lock(root: Path, exclusive: bool, wait: bool = True):
    """The registry's collection lock (a file of its directory): shared by builds, exclusive for collection.
    Yields whether it is held (False only when not waiting and it is busy)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(root / LOCK_NAME, "a") as lock:
        flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(lock, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Limit(NamedTuple):
    """The build's time limit and cancel, which a push or pull of the engine's honours too."""

    deadline: float        # time.monotonic()
    cancel: object         # a threading.Event, or None
    timeout: float         # the limit in seconds, for the message


def export(api, registry: BuildRegistry, app: str, app_id: int, image_id: str, layout: Path, proven: set[str],
           on_output, limit: Limit) -> int:
    """The engine's image `image_id` pushed to the app's repository and read back into the OCI layout at
    `layout`, fetching only the layers not in `proven`; how many layer blobs were fetched.
    BuildError when the push fails; ImageError when what the registry gives is not that image."""
    with collection_lock(registry.root, exclusive=False):
        started = time.monotonic()
        pushed = push(api, registry, app, app_id, image_id, limit)
        on_output(f"-----> Pushed {pushed.sent} new layer(s) to the build registry ({pushed.present} there already)")
        ref = registry_client.Reference(registry.address, f"{REPOSITORY}/{app}", pushed.digest)
        between = time.monotonic()
        fetched = registry_client.pull_layout(ref, registry.login, layout, proven, image_id)
    on_output(f"-----> Fetched {fetched} layer(s) the app does not have yet")
    log.info("app %s: pushed %d layers (%d there already) in %.2f s, fetched %d in %.2f s", app, pushed.sent,
             pushed.present, between - started, fetched, time.monotonic() - between)
    return fetched


def push(api, registry: BuildRegistry, app: str, app_id: int, image_id: str, limit: Limit) -> Pushed:
    """`docker push` of image_id as <registry>/paas-build/<app>:<app_id> (that tag removed again after:
    the engine keeps the image under its cache tag)."""
    import docker.errors

    repository, tag = registry.repository(app), str(app_id)
    try:
        api.tag(image_id, repository, tag, force=True)
    except (docker.errors.DockerException, OSError) as exc:
        raise BuildError(f"the Docker engine of the builds does not answer: {str(exc)[:300]}") from None
    try:
        return _read_push(engine_stream(api, api._url("/images/{0}/push", repository), {"tag": tag}, registry,
                                        limit, "push the image to the build registry"))
    finally:
        try:
            api.remove_image(f"{repository}:{tag}", noprune=True)
        except (docker.errors.DockerException, OSError):
            pass  # a tag left: the next build's push moves it, the engine's collection leaves it (not a cache tag)


def engine_stream(api, url: str, params: dict, registry: BuildRegistry, limit: Limit, what: str):
    """The JSON messages of an engine request that carries the build registry's login (a push, a pull), as
    dicts; cut at the build's deadline or on its cancel (BuildTimeout, BuildCancelled: the engine stops
    when its client goes), BuildError when the engine refuses or reports an error."""
    import requests
    from docker import auth


    header = auth.encode_header({"username": registry.login.username, "password": registry.login.secret})
    try:
        response = api.post(url, params=params, headers={"X-Registry-Auth": header}, stream=True, timeout=(30, None))
    except (requests.RequestException, OSError) as exc:
        raise BuildError(f"the Docker engine could not {what}: {str(exc)[:300]}") from None
    events, reader = start_reading(response)
    try:
        if response.status_code != 200:
            raise BuildError(f"the Docker engine could not {what}: {response.text[:300].strip()}")
        while (raw := next_message(events, limit.deadline, limit.cancel, limit.timeout)) is not None:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("error"):
                raise BuildError(f"the Docker engine could not {what}: {str(message['error'])[:300]}")
            if isinstance(message, dict):
                yield message
    finally:
        cut(response)
        reader.join(10)


def _read_push(events) -> Pushed:
    """The push's messages (engine_stream): its digest and layer counts."""
    pushed = Pushed("", 0, 0)
    for event in events:
        status = str(event.get("status", ""))
        if status == "Pushed":
            pushed.sent += 1
        elif status == "Layer already exists" or status.startswith("Mounted from"):
            pushed.present += 1
        aux = event.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
            pushed.digest = aux["Digest"]
    if not _DIGEST.match(pushed.digest):
        raise BuildError("the Docker engine's push reported no manifest digest")
    return pushed
