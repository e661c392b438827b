"""The CLI imports only the module of the command it runs; its index of owners must match the modules."""

import importlib
import subprocess
import sys

import pytest

from paas.platform.cli import main


def registered(name: str) -> set[str]:
    """The commands a command module registers, read from a parser holding it alone."""
    module = importlib.import_module(f"paas.platform.cli.commands.{name}")
    parser = main.argparse.ArgumentParser()
    sub = parser.add_subparsers()
    common = main.argparse.ArgumentParser(add_help=False)
    if name in main.APP_COMMANDS:
        module.register(sub, common, main.argparse.ArgumentParser(add_help=False))
    else:
        module.register(sub, common)
    return set(sub.choices)


@pytest.mark.parametrize("name", main.APP_COMMANDS + main.ACCOUNT_COMMANDS)
def test_every_command_is_found_in_the_module_that_registers_it(name):
    commands = registered(name)
    assert commands
    assert {command: main.owner(command) for command in commands} == {command: name for command in commands}


def test_a_command_loads_its_module_alone():
    code = ("import sys; from paas.platform.cli.main import parse; parse(['ps:scale', 'web=1', '-a', 'x']); "
            "print(sorted(m for m in sys.modules if m.startswith('paas.platform.cli.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['paas.platform.cli.commands.ps']"


@pytest.mark.parametrize("argv", [["--help"], ["nonsense"], ["ps:nonsense"], []])
def test_help_and_unknown_commands_get_a_usage_error_not_a_traceback(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main(argv)
    assert exit_.value.code in (0, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_the_full_usage_lists_every_module(capsys):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    assert "ps:scale" in out and "whoami" in out and "pg:backups" in out
