"""Shared set-up for the read-back tests: a hostile buildpack, real builds with either executor.

The buildpack stands for any build that runs the pushed code (npm scripts,
setup.py): its compile runs the app's own plant.sh with BUILD_DIR and
CACHE_DIR, and its release prints the app's .release.yml (as the shipped
nodejs buildpack prints a file its compile wrote).
"""

import os
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# The runtime's test sandbox (its own data dir, cgroup parent and bridge) must be
# in the environment before paas.runtime reads it: import it first.
import tests.runtime.conftest  # noqa: F401  isort: skip

from paas.buildpacks.driver import build
from paas.buildpacks.errors import BuildError
from paas.buildpacks.executor import LocalExecutor
from paas.buildpacks.containerexec import ContainerExecutor

BUILDPACK = {
    "bin/detect": "#!/bin/sh\necho Hostile\n",
    "bin/compile": '#!/bin/sh\nset -e\ncd "$1"\nexec /bin/sh "$1/plant.sh" "$1" "$2"\n',
    "bin/release": '#!/bin/sh\nif [ -f "$1/.release.yml" ]; then cat "$1/.release.yml"; else echo "---"; fi\n',
}


def executors() -> dict:
    """The repo's executors by name: the local one and the build container."""
    return {"local": LocalExecutor, "container": lambda: ContainerExecutor(name="readback")}


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        if "bin/" in rel or rel.endswith(".sh"):
            path.chmod(0o755)
    return root


def listing(root: Path) -> dict[str, tuple]:
    """Everything under root with kind, size and content digest: to prove nothing changed there."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            content = open(path, "rb").read() if os.path.isfile(path) and not os.path.islink(path) else None
            found[os.path.relpath(path, root)] = (info.st_mode, info.st_size, content)
    return found


@dataclass
class Host:
    """Host paths a build must never read or touch: a secret file and its directory."""

    dir: Path
    secret: str = field(default_factory=lambda: f"paas_admin_token_{uuid.uuid4().hex}")

    @property
    def secret_file(self) -> Path:
        return self.dir / "admin-token"

    def create(self) -> "Host":
        self.dir.mkdir()
        self.secret_file.write_text(self.secret + "\n")
        return self


class HostileBuilds:
    """Runs builds of apps whose plant.sh attacks the read-back, with one executor."""

    def __init__(self, tmp_path: Path, executor_name: str):
        self.tmp = tmp_path
        self.executor = executors()[executor_name]()
        self.buildpacks = write(tmp_path / "buildpacks", {"ORDER": "hostile\n", **{
            f"hostile/{rel}": text for rel, text in BUILDPACK.items()}})
        self.cache = tmp_path / "cache"
        self.cache.mkdir()
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.host = Host(tmp_path / "host").create()
        self.lines: list[str] = []
        self.count = 0

    def source(self, plant: str, files: dict | None = None) -> Path:
        self.count += 1
        return write(self.tmp / f"src-{self.count}", {"plant.sh": "set -e\n" + plant, **(files or {})})

    def build(self, source: Path):
        """Build; returns the Slug, or raises BuildError."""
        self.lines = []
        return build(str(source), str(self.cache), str(self.tmp / f"slug-{self.count}.tgz"),
                     executor=self.executor, buildpacks_dir=str(self.buildpacks), on_output=self.lines.append,
                     work_dir=str(self.work))

    def refused(self, source: Path, *words: str) -> str:
        """Build, expect a BuildError; check it names the words and that no secret got out."""
        before = listing(self.host.dir)
        try:
            self.build(source)
        except BuildError as error:
            message = str(error)
        else:
            raise AssertionError(f"the build succeeded:\n{self.output}")
        for word in words:
            assert word in message, message
        self.assert_nothing_leaked(message)
        assert listing(self.host.dir) == before
        return message

    def assert_nothing_leaked(self, message: str = "") -> None:
        assert self.host.secret not in message
        assert self.host.secret not in self.output
        assert "\n" not in message
        # The build's scratch directory is gone, failure or not.
        assert os.listdir(self.work) == []
        for slug in self.tmp.glob("slug-*.tgz"):
            with tarfile.open(slug) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member).read() if member.isfile() else member.linkname.encode()
                    assert self.host.secret.encode() not in data, member.name

    @property
    def output(self) -> str:
        return "\n".join(self.lines)
