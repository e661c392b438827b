"""The wheel built from pyproject.toml holds the whole platform: every module imports from it, every data file is in it.

Built offline (``pip wheel --no-build-isolation --no-index``, against the setuptools of the
project's virtualenv) from a copy of the files git knows, installed into a fresh virtualenv;
the project's dependencies are lent to it through a ``.pth`` line (that directory's own ``.pth``
files, among them the editable install's finder, are not run). A file a layer folder tracks but
the wheel lacks fails the test by name, as does a bin/ script that lost its exec bit.
"""

import json
import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]

# Run inside the fresh virtualenv: Django first (models need it), then every module named on stdin.
IMPORT_ALL = """
import importlib, json, sys
import django
django.setup()
failed = {}
for name in json.load(sys.stdin):
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
        continue
    if not module.__file__.startswith(sys.prefix):
        failed[name] = f"imported from {module.__file__}, not the installed wheel"
print(json.dumps(failed))
"""


def tracked_files() -> list[str]:
    """What git knows or would add (committed, staged, new and not ignored), relative to the checkout."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=CHECKOUT,
                         capture_output=True, check=True).stdout
    return sorted({name for name in out.decode().split("\0") if name and (CHECKOUT / name).is_file()})


def shipped(packages: list[str], files: list[str]) -> list[str]:
    """The files of the layer folders: each layer's top package and everything under it."""
    layers = {p.split(".")[1] for p in packages}
    return [f for f in files if f.split("/")[0] in layers]


def module_names(packages: list[str], files: list[str]) -> list[str]:
    """Every module of every package (``__main__`` modules run a program when imported: left out)."""
    dirs = {"/".join(p.split(".")[1:]): p for p in packages}
    names = []
    for name in files:
        directory, _, base = name.rpartition("/")
        if base.endswith(".py") and directory in dirs and base != "__main__.py":
            names.append(dirs[directory] if base == "__init__.py" else f"{dirs[directory]}.{base[:-3]}")
    return sorted(names)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site-packages of a fresh virtualenv holding only the wheel, its python, the packages, the files)."""
    work = tmp_path_factory.mktemp("wheel")
    files = tracked_files()
    source = work / "source"
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CHECKOUT / name, source / name, follow_symlinks=False)
    packages = runpy.run_path(str(source / "setup.py"), run_name="paas_setup")["paas_packages"](source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(work / "dist"), str(source)], check=True, capture_output=True, cwd=work)
    (wheel,) = (work / "dist").glob("paas-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, cwd=work)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return site, python, packages, files


def test_every_module_imports_from_the_installed_wheel(installed, tmp_path):
    site, python, packages, files = installed
    names = module_names(packages, files)
    assert "paas.platform.cli.commands.apps" in names and "paas.contracts.redis_keys" in names
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "paas.platform.settings",
           "PAAS_DATA_DIR": str(tmp_path / "data"), "PAAS_CACHE_DIR": str(tmp_path / "cache"),
           "PAAS_RUNTIME_DIR": os.environ.get("PAAS_RUNTIME_DIR", str(tmp_path / "runtime")),
           "PAAS_CGROUP_PARENT": os.environ.get("PAAS_CGROUP_PARENT", "paas-tests")}
    result = subprocess.run([str(python), "-P", "-c", IMPORT_ALL], input=json.dumps(names), capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {}


def test_every_data_file_is_installed_with_its_mode(installed):
    site, _, packages, files = installed
    missing, modes = [], []
    for name in shipped(packages, files):
        target = site / "paas" / name
        if not target.is_file():
            missing.append(name)
        elif os.stat(CHECKOUT / name).st_mode & 0o111 and not target.stat().st_mode & 0o100:
            modes.append(name)
    assert not missing, f"tracked files of the layers missing from the wheel: {missing}"
    assert not modes, f"executables installed without their exec bit: {modes}"
    assert (site / "paas/buildpacks/python/bin/compile").stat().st_mode & 0o100


def test_the_installed_buildpacks_and_c_source_are_found_where_the_code_looks(installed, tmp_path):
    site, python, _, _ = installed
    probe = ("from paas.buildpacks import selection; from paas.runtime import initbin; "
             "print(selection.SHIPPED_DIR, initbin.INIT_DIR, sep='\\n')")
    result = subprocess.run([str(python), "-P", "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    shipped_dir, init_dir = (Path(line) for line in result.stdout.split())
    assert shipped_dir.is_relative_to(site) and (shipped_dir / "ORDER").is_file()
    assert (init_dir / "paas-init.c").is_file() and init_dir.is_relative_to(site)
