"""Where each app's bare repository lives, created on first use."""

from pathlib import Path

from django.conf import settings
from dulwich.repo import Repo

from paas.platform.names import check_app_name


def repos_dir() -> Path:
    return Path(settings.PAAS_DATA_DIR) / "repos"


def repo_path(app_name: str) -> Path:
    # The name was checked as a DNS label, so it cannot climb out of repos_dir().
    return repos_dir() / f"{check_app_name(app_name)}.git"


def open_repo(app_name: str) -> Repo:
    """The app's bare repository; made on first use, with only our own config in it.

    Nothing a client pushes can add hooks or config: a push carries objects and
    refs only, and we never run git's own hooks on this repository.
    """
    path = repo_path(app_name)
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        repo = Repo.init_bare(str(path))
        config = repo.get_config()
        config.set((b"receive",), b"maxInputSize", str(settings.PAAS_MAX_PUSH_BYTES).encode())
        config.write_to_path()
        repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
        return repo
    return Repo(str(path))
