"""The README's two commands are the product's interface: CI must run exactly them."""

import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (CHECKOUT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def ci_commands() -> list[str]:
    lines = (CHECKOUT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "set ", "cd "))]


def test_readme_opens_with_the_two_commands():
    assert readme_commands() == ["make up", "make test"]


def test_ci_runs_the_readme_test_command():
    assert ci_commands() == ["make test"]


def test_makefile_has_both_targets():
    makefile = (CHECKOUT / "Makefile").read_text()
    assert re.search(r"^up:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
