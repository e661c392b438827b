"""The registry the Docker engine's builds push to (PAAS_BUILD_REGISTRY): how a built image leaves the engine.

The engine's API exports an image only whole (``docker save``: 906 MB each build for a Flask app on a
Debian base, though one layer changed). A push sends only the layers the registry lacks (the engine asks
with HEAD first), so each build pushes its image to Debian's ``docker-registry`` on loopback, which the
platform runs for the purpose (compose/up.py, where PAAS_BUILD_DOCKER_HOST names an engine), and the
build worker fetches from it only the layers the app has not proven (enginepush.py, through
runtime/registry.py's pull_layout).

- **Address and login**: ``PAAS_BUILD_REGISTRY`` (``127.0.0.1:<port>``; plain HTTP, loopback only, which
  a Docker engine also speaks plainly), one user (``USER``) with ``PAAS_BUILD_REGISTRY_PASSWORD``
  (htpasswd, bcrypt). Only the build worker holds the password; the engine gets it with each push.
  docker-registry's htpasswd auth gives every user it knows every repository (scoping by repository
  needs a token server): what keeps apps apart is that no tenant reaches it (it listens on the host's
  loopback, where a build's steps have their own) and that the worker reads only the app's repository,
  ``paas-build/<app>``, by the digest the push reported; a registry links a manifest into the
  repositories it was pushed to only, so another app's digest is unknown there.
- **Storage**: ``PAAS_BUILD_REGISTRY_DIR`` (default ``<data dir>/build-registry``): its config, htpasswd
  and blobs, with ``storage.delete`` on for collection (enginegc.py).
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from paas.runtime.registry import Login, check_registry

from .errors import BuildError

USER = "paas-builds"
REPOSITORY = "paas-build"        # a repository per app: paas-build/<app>, tagged with the app's id


@dataclass(frozen=True)
class BuildRegistry:
    """The build registry as the build worker sees it."""

    address: str       # 127.0.0.1:<port>
    login: Login
    root: Path         # its config and storage, where the worker collects it (enginegc.py)

    def repository(self, app: str) -> str:
        """The app's repository, as the engine names it (with the registry's address)."""
        return f"{self.address}/{REPOSITORY}/{app}"


def from_env() -> BuildRegistry | None:
    """The build registry this process's environment names; None without PAAS_BUILD_REGISTRY (the engine's
    builds are then exported whole, docker save)."""
    address = os.environ.get("PAAS_BUILD_REGISTRY", "").strip()
    if not address:
        return None
    try:
        address = check_registry(address)
    except Exception as error:  # noqa: BLE001 (ImageError: the setting, named)
        raise BuildError(f"PAAS_BUILD_REGISTRY: {error}") from None
    if not address.startswith(("127.", "localhost:")):
        raise BuildError(f"PAAS_BUILD_REGISTRY={address!r} must be on loopback (127.0.0.1:<port>): it is spoken "
                         "to in plain HTTP")
    password = os.environ.get("PAAS_BUILD_REGISTRY_PASSWORD", "")
    if not password:
        raise BuildError("PAAS_BUILD_REGISTRY is set but PAAS_BUILD_REGISTRY_PASSWORD is not")
    return BuildRegistry(address, Login(USER, password), storage_dir())


def storage_dir() -> Path:
    """PAAS_BUILD_REGISTRY_DIR, default <data dir>/build-registry."""
    named = os.environ.get("PAAS_BUILD_REGISTRY_DIR", "").strip()
    if named:
        return Path(named)
    from paas.runtime import config

    return config.data_dir() / "build-registry"


def htpasswd_line(user: str, password: str) -> str:
    """An htpasswd line docker-registry reads (bcrypt, by glibc's crypt). At bcrypt's least cost (2**4
    rounds): the registry checks it on every request (a push or fetch makes dozens), and the passwords
    are 32 random bytes, which no cost factor needs to protect."""
    with warnings.catch_warnings():  # deprecated, and the one bcrypt maker at hand
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}\n"


def write_config(root: Path, address: str, password: str) -> Path:
    """docker-registry's config (and htpasswd) under `root`, listening on `address`, storing in root/data,
    deletes allowed (collection); the config's path. Rewritten at every start."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    htpasswd = root / "htpasswd"
    _private(htpasswd, htpasswd_line(USER, password))
    conf = root / "config.yml"
    _private(conf, f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: {address}\n"
                    # Errors only: an access line per request would fill make up's terminal (dozens a build).
                    "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"auth:\n  htpasswd:\n    realm: paas-builds\n    path: {htpasswd}\n")
    return conf


def _private(path: Path, text: str) -> None:
    """`text` into `path`, readable by us alone from the start (not a link followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def argv(conf: Path) -> list[str]:
    """The registry's command line (its config holds no password: only its htpasswd's hash)."""
    return ["docker-registry", "serve", str(conf)]
