"""Builds on the forky stack in a build container, from the real registries (through whatever
this machine's outbound TLS passes: the stack trusts the host's CA bundle)."""

import shutil
import tarfile
from pathlib import Path

from paas.buildpacks.driver import build

APPS = Path(__file__).with_name("apps")


def test_a_pnpm_lock_installs_with_pnpm_through_corepack(forky_stack, tmp_path):
    from paas.buildpacks.containerexec import ContainerExecutor

    src = tmp_path / "src"
    shutil.copytree(APPS / "pnpm", src)
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    lines: list[str] = []
    executor = ContainerExecutor(stack=forky_stack, name="pn", build_dirs=(str(work), str(cache)))
    # This machine's registry serves metadata without signatures (see hostenv.FORWARDED).
    slug = build(str(src), str(cache), str(tmp_path / "slug.tgz"), executor=executor, stack=forky_stack,
                 work_dir=str(work), host_env={"COREPACK_INTEGRITY_KEYS": "0"}, on_output=lines.append)
    assert "-----> Installing dependencies from pnpm-lock.yaml with pnpm (corepack)" in lines
    with tarfile.open(slug.path) as tar:
        names = tar.getnames()
    assert "./node_modules/ms" in names or any(n.startswith("./node_modules/.pnpm/ms@2.1.3") for n in names)
    assert slug.process_types == {"web": "node server.js"}
