"""Package discovery for ``paas.*``; everything else about the package is in pyproject.toml.

The layer folders of DESIGN.md live at the top of the checkout but import as
``paas.<layer>`` (a top-level package called ``platform`` would shadow the stdlib), and
pyproject.toml's ``packages.find`` cannot add that ``paas.`` in front of what it finds.
"""

from setuptools import find_packages, setup

# The folders that are part of the installed platform (tests/ and bench/ are not).
LAYERS = ("platform", "runtime", "buildpacks", "router", "services", "logcenter", "web", "compose", "contracts")

setup(
    package_dir={"paas": "."},
    packages=[f"paas.{name}" for name in find_packages(include=[f"{layer}{sub}" for layer in LAYERS
                                                                 for sub in ("", ".*")])],
)
