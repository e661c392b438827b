"""The ``paas`` git remote of the current repository: where the app name comes from."""

import subprocess
from urllib.parse import urlsplit

REMOTE = "paas"


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def in_repository() -> bool:
    try:
        return git("rev-parse", "--git-dir").returncode == 0
    except FileNotFoundError:
        return False


def app_from_remote() -> str | None:
    if not in_repository():
        return None
    result = git("remote", "get-url", REMOTE)
    if result.returncode != 0:
        return None
    return app_from_url(result.stdout.strip())


def app_from_url(url: str) -> str | None:
    path = urlsplit(url).path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    return last[: -len(".git")] if last.endswith(".git") else None


def set_remote(url: str) -> str:
    """Point the ``paas`` remote at ``url``; return what was done, for the user."""
    if git("remote", "get-url", REMOTE).returncode == 0:
        git("remote", "set-url", REMOTE, url)
        return f"updated git remote {REMOTE} to {url}"
    git("remote", "add", REMOTE, url)
    return f"added git remote {REMOTE} ({url})"
