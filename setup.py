"""Package discovery for ``paas.*``; everything else about the package is in pyproject.toml.

The layer folders of DESIGN.md live at the top of the checkout but import as
``paas.<layer>`` (a top-level package called ``platform`` would shadow the stdlib), and
pyproject.toml's ``packages.find`` cannot put ``paas.`` in front of what it finds.
"""

from pathlib import Path

from setuptools import find_packages, setup

CHECKOUT = Path(__file__).resolve().parent


def paas_packages(root: Path = CHECKOUT) -> list[str]:
    """Every package of the platform: each folder with an ``__init__.py`` under a layer (tests/ is not one)."""
    return sorted(f"paas.{name}" for name in find_packages(where=str(root), exclude=["tests", "tests.*"]))


if __name__ == "__main__":  # the build backend runs it so; tests/packaging read paas_packages alone
    setup(package_dir={"paas": "."}, packages=paas_packages())
