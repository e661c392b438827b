"""An OCI/Docker image's run configuration, as the platform keeps and honours it.

The image config JSON (``config.Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``,
``User``, ``ExposedPorts``; ``rootfs.diff_ids``) comes from a tenant: it is
checked and reduced here to the few fields the runner uses, the one reading of
them. ``User`` is kept for display only: an image never picks its host uid
(every instance runs as its app's own unprivileged uid, identity.py), root or not.
"""

import re

from .errors import ImageError
from .validate import control_char

MAX_ARGS_BYTES = 64 << 10
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIFF_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
_PORT = re.compile(r"^(\d{1,5})(?:/(tcp|udp|sctp))?$")


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"image config: {what} must be a list of strings")
    if sum(len(v) for v in value) > MAX_ARGS_BYTES:
        raise ImageError(f"image config: {what} is longer than {MAX_ARGS_BYTES} bytes")
    for v in value:
        if "\0" in v:
            raise ImageError(f"image config: {what} holds a NUL character")
    return list(value)


def _env(value) -> dict[str, str]:
    env = {}
    for item in _strings(value, "Env"):
        name, sep, text = item.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ImageError(f"image config: Env entry {item[:80]!r} is not NAME=value")
        env[name] = text
    return env


def _workdir(value) -> str:
    if value in (None, ""):
        return "/"
    if not isinstance(value, str) or not value.startswith("/") or control_char(value) or len(value) > 4096:
        raise ImageError(f"image config: WorkingDir {str(value)[:80]!r} is not an absolute path")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError(f"image config: WorkingDir {value[:80]!r} climbs with '..'")
    return "/" + "/".join(parts)


def _port(value) -> int:
    """The first TCP port of ExposedPorts (``{"8080/tcp": {}}``), in the config's order; 0: none."""
    if value is None:
        return 0
    if not isinstance(value, dict):
        raise ImageError("image config: ExposedPorts must be an object")
    for key in value:
        match = _PORT.match(str(key))
        if not match or not 0 < int(match.group(1)) < 65536:
            raise ImageError(f"image config: exposed port {str(key)[:40]!r} is not a port such as 8080/tcp")
        if match.group(2) in (None, "tcp"):
            return int(match.group(1))
    return 0


def diff_ids(document: dict) -> list[str]:
    """The image's layers, bottom first, by the sha256 of each uncompressed layer tar."""
    rootfs = document.get("rootfs") if isinstance(document, dict) else None
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) and _DIFF_ID.match(d) for d in ids):
        raise ImageError("image config: rootfs.diff_ids must list sha256:<hex> layer digests")
    return ids


def normalize(document: dict) -> dict:
    """The run settings of an image config document; ImageError on anything malformed."""
    if not isinstance(document, dict):
        raise ImageError("image config is not a JSON object")
    run = document.get("config") or {}
    if not isinstance(run, dict):
        raise ImageError("image config: config must be an object")
    user = run.get("User") or ""
    if not isinstance(user, str) or control_char(user):
        raise ImageError("image config: User must be a plain string")
    return {
        "entrypoint": _strings(run.get("Entrypoint"), "Entrypoint"),
        "cmd": _strings(run.get("Cmd"), "Cmd"),
        "env": _env(run.get("Env")),
        "workdir": _workdir(run.get("WorkingDir")),
        "user": user[:256],
        "port": _port(run.get("ExposedPorts")),
    }


def argv(config: dict, command: str) -> list[str]:
    """What an instance of the image runs: a Procfile (or `paas run`) command replaces CMD, as
    ``docker run IMAGE sh -c COMMAND`` would, after ENTRYPOINT; without one, ENTRYPOINT + CMD."""
    if command:
        return [*config["entrypoint"], "/bin/sh", "-c", command]
    args = [*config["entrypoint"], *config["cmd"]]
    if not args:
        raise ImageError("the image has no command (no ENTRYPOINT or CMD) and the app no Procfile entry for it")
    return args


def has_command(config: dict) -> bool:
    return bool(config["entrypoint"] or config["cmd"])
