"""paas-runner: the operator's low-level command for containers and stacks.

    paas-runner run [--memory 256M] [--cpus 0.5] [--pids 256] [--network bridge|host|none]
                    [--stack NAME | --rootfs DIR] [--layer DIR]... [--env K=V]...
                    [--workdir DIR] [--hostname H] [--user U] -- CMD...
    paas-runner stack:build NAME
    paas-runner stack:list
    paas-runner sweep

``run`` behaves like ``runc run`` / ``docker run --rm``: stdio attached, the
container's exit code as its own (137 after an OOM kill), 125 with a one-line
message for bad input or a failure to start.

Fast start: the console script pip writes runs the interpreter with ``site``
and the editable-install finder, which costs more than starting a container.
On its first use it replaces itself (atomically, in the venv's bin) with the
native front end: a copy of the static binary compiled from init/ (the same
one that is paas-init; see init/paas-runner.c), which runs the plain ``run``
forms (network none or host) itself in C, and beside it ``paas-runner.py``,
LAUNCHER: the same venv interpreter started with ``-I -S`` and the ``paas``
package mapped to the checkout by hand, to which the native front end execs
every other command line. ``run`` needs the standard library only; the other
verbs load ``site`` first (``relay`` needs Redis' client). Without gcc the
Python launcher itself replaces pip's script, as before.

A reinstall (bootstrap after a pyproject.toml change) writes pip's script
again, and its first use puts the launcher back. A ``git pull`` that changes
the C sources makes the installed copy stale: it notices (the sources'
digest is compiled in), runs the command through Python with
PAAS_RUNNER_STALE=1, and Python installs the current build (refresh_native).
"""

import os
import sys
from pathlib import Path

from .errors import RuntimeLayerError

EXIT_BAD_INPUT = 125


def _parser():
    import argparse

    parser = argparse.ArgumentParser(prog="paas-runner", description="Run containers and manage stacks.")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run one container in the foreground")
    run.add_argument("--memory", default="256M")
    run.add_argument("--cpus", type=float, default=None)
    run.add_argument("--pids", type=int, default=256)
    run.add_argument("--tmp-size", default="64M")
    run.add_argument("--disk", default="1G", help="size cap of the writable layer")
    run.add_argument("--network", default="bridge")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--stack", default=None)
    source.add_argument("--rootfs", default=None)
    run.add_argument("--layer", action="append", default=[], help="a read-only layer above the rootfs (repeatable, topmost last)")
    run.add_argument("--volume", "-v", action="append", default=[], help="HOST:CONTAINER[:ro|rw] bind mount")
    run.add_argument("--env", "-e", action="append", default=[])
    run.add_argument("--workdir", "-w", default="/")
    run.add_argument("--hostname", default="")
    run.add_argument("--user", "-u", default="app")
    run.add_argument("--name", default=None)
    run.add_argument("--no-seccomp", action="store_true")
    run.add_argument("command", nargs=argparse.REMAINDER)  # keep RUN_OPTIONS below in step
    build = sub.add_parser("stack:build", help="build a stack (host, or a Debian release with debootstrap)")
    build.add_argument("name")
    sub.add_parser("stack:list", help="list the stacks on this host")
    sub.add_parser("sweep", help="remove what crashed containers left behind")
    relay = sub.add_parser("relay", help="start a created container attached to Redis streams (paas run)")
    relay.add_argument("id")
    relay.add_argument("--no-tty", action="store_true", help="pipes instead of a terminal")
    return parser


# `run`'s options as _parser defines them: dest, default, conversion, repeatable.
# The fast parser below takes only the forms it reads exactly as argparse would
# and hands every other command line to argparse (which loads in ~10 ms).
RUN_OPTIONS = {
    "--memory": ("memory", "256M", str, False), "--cpus": ("cpus", None, float, False),
    "--pids": ("pids", 256, int, False), "--tmp-size": ("tmp_size", "64M", str, False),
    "--disk": ("disk", "1G", str, False), "--network": ("network", "bridge", str, False),
    "--stack": ("stack", None, str, False), "--rootfs": ("rootfs", None, str, False),
    "--layer": ("layer", [], str, True), "--volume": ("volume", [], str, True), "-v": ("volume", [], str, True),
    "--env": ("env", [], str, True), "-e": ("env", [], str, True),
    "--workdir": ("workdir", "/", str, False), "-w": ("workdir", "/", str, False),
    "--hostname": ("hostname", "", str, False), "--user": ("user", "app", str, False),
    "-u": ("user", "app", str, False), "--name": ("name", None, str, False),
}


def _parse_run_fast(argv: list[str]):
    """argparse's Namespace for a plain `run` command line, or None for argparse to read it.

    Plain: every option spelled out in full from RUN_OPTIONS (``--opt VALUE``,
    ``--opt=VALUE``, ``-e VALUE``) or ``--no-seccomp``, no value starting with
    '-', numbers that convert, at most one of --stack/--rootfs given once; the
    command starts at the first other word (or ``--``) and takes the rest.
    """
    if argv[:1] != ["run"]:
        return None
    values = {dest: (list(default) if many else default) for dest, default, _, many in RUN_OPTIONS.values()}
    values["no_seccomp"] = False
    sources = []
    i = 1
    while i < len(argv):
        word = argv[i]
        if word == "--" or not word.startswith("-"):
            break
        if word == "--no-seccomp":
            values["no_seccomp"] = True
            i += 1
            continue
        name, eq, value = word.partition("=")
        if not eq or not name.startswith("--"):
            name, value = word, None
        option = RUN_OPTIONS.get(name)
        if option is None:
            return None  # -h, an abbreviation, -eK=V, a typo: argparse says what it makes of it
        if value is None:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 2
        else:
            i += 1
        if value.startswith("-"):
            return None
        dest, _, convert, many = option
        if dest in ("stack", "rootfs"):
            sources.append(dest)
        try:
            converted = convert(value)
        except ValueError:
            return None
        if many:
            values[dest].append(converted)
        else:
            values[dest] = converted
    if len(sources) > 1:
        return None
    values["command"] = argv[i:]
    values["verb"] = "run"
    return _Namespace(**values)


class _Namespace:
    """Attribute access like argparse.Namespace, without importing argparse."""

    def __init__(self, **values):
        self.__dict__.update(values)


def _spec_from_args(args):
    from .errors import SpecError
    from .spec import ContainerSpec, Limits, Mount, parse_size

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.rootfs:
        base_layers, binds = (Path(args.rootfs).resolve(),), ()
    else:
        from . import stacks

        stack = stacks.get(args.stack or "host")
        base_layers, binds = stack.layers, stack.binds
    layers = tuple(Path(p).resolve() for p in reversed(args.layer)) + tuple(base_layers)
    env = []
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--env {item!r} must be NAME=VALUE")
        env.append((name, value))
    for item in args.volume:
        parts = item.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise SpecError(f"--volume {item!r} must be HOST:CONTAINER[:ro|rw]")
        binds += (Mount(Path(parts[0]).resolve(), parts[1], len(parts) == 2 or parts[2] == "ro"),)
    limits = Limits(memory=parse_size(args.memory), cpus=args.cpus, pids=args.pids,
                    tmp=parse_size(args.tmp_size), disk=parse_size(args.disk))
    extra = {"id": args.name} if args.name else {}
    return ContainerSpec(command=tuple(command), layers=layers, binds=binds, env=tuple(env),
                         workdir=args.workdir, user=args.user, hostname=args.hostname,
                         network=args.network, limits=limits, seccomp=not args.no_seccomp, **extra)


def _run(args) -> int:
    from .container import run

    outcome = run(_spec_from_args(args))
    if outcome.oom_killed:
        print("paas-runner: the container was OOM-killed (memory limit reached)", file=sys.stderr)
    elif outcome.error:
        print(f"paas-runner: error: {outcome.error}", file=sys.stderr)
    return outcome.exit_code


def _stack_build(args) -> int:
    from . import stacks

    stack = stacks.build_host() if args.name == "host" else stacks.build_debian(args.name)
    print(f"stack {stack.name} ready: {', '.join(str(p) for p in stack.layers)}")
    return 0


def _stack_list(args) -> int:
    from . import stacks

    for name in sorted(stacks.names() | {"host"}):
        print(name)
    return 0


def _sweep(args) -> int:
    from .sweep import sweep

    for line in sweep():
        print(line)
    return 0


def _relay(args) -> int:
    from .attach import main as relay_main

    return relay_main(args.id, tty=not args.no_tty)


# Marks the generated launcher; the verbs that need site-packages are the ones not listed.
LAUNCHER_MARK = "# paas-runner fast launcher"
STDLIB_VERBS = ("run",)
# The "# checkout:" line is read by the native front end (find_launcher in init/paas-runner.c).
LAUNCHER = """#!{python} -IS
{mark} (written by paas.runtime.cli over or beside pip's console script; see its docstring)
# checkout: {checkout}
import sys
if sys.argv[1:2] != ["run"]:
    import site
    site.main()
else:
    paas = type(sys)("paas")
    paas.__path__ = [{checkout!r}]
    sys.modules["paas"] = paas
from paas.runtime.cli import main
sys.exit(main())
"""
ELF_MAGIC = b"\x7fELF"


def _write_atomic(path: str, data: bytes) -> bool:
    """Replace `path` with `data` (mode 755) in one rename; False if it cannot be written."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)  # a concurrent start runs either the old file or the new one
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def _native_build() -> bytes | None:
    """The current build of the static binary, or None if it cannot be built here (no gcc)."""
    from .initbin import init_binary

    try:
        return init_binary().read_bytes()
    except (RuntimeLayerError, OSError):
        return None


def install_launcher(script: str) -> bool:
    """Replace pip's console script at `script` with the native front end (and LAUNCHER beside it).

    Without a compiler, LAUNCHER itself replaces the script. False if `script`
    is not pip's or cannot be written.
    """
    try:
        with open(script, encoding="utf-8") as handle:
            text = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    if "from paas.runtime.cli import main" not in text or not text.startswith("#!"):
        return False
    python = text[2:].split("\n", 1)[0].strip()
    # LAUNCHER itself in the script's place: written where no compiler was, or
    # by the Python-only versions; it makes way for the native front end.
    was_launcher = LAUNCHER_MARK in text
    if was_launcher:
        python = python.removesuffix(" -IS")
    if not python.startswith("/") or " " in python:
        return False
    from . import config

    checkout = str(config.CHECKOUT_DIR)
    if "\n" in checkout:
        return False
    body = LAUNCHER.format(python=python, mark=LAUNCHER_MARK, checkout=checkout).encode()
    native = _native_build()
    if native is None:
        return not was_launcher and _write_atomic(script, body)
    # The launcher first: the native front end execs it for every other form.
    return _write_atomic(f"{script}.py", body) and _write_atomic(script, native)


def refresh_native(launcher: str) -> bool:
    """Put the current build over the stale native front end beside `launcher` (its paas-runner.py)."""
    if not launcher.endswith(".py"):
        return False
    native_path = launcher[:-len(".py")]
    try:
        with open(native_path, "rb") as handle:
            if handle.read(4) != ELF_MAGIC:
                return False  # pip's script again (a reinstall): its first use installs anew
    except OSError:
        return False
    native = _native_build()
    return native is not None and _write_atomic(native_path, native)


VERBS = {"run": _run, "stack:build": _stack_build, "stack:list": _stack_list, "sweep": _sweep, "relay": _relay}


def main(argv: list[str] | None = None) -> int:
    if argv is None and os.path.basename(sys.argv[0]) == "paas-runner":
        install_launcher(sys.argv[0])  # pip's script or LAUNCHER in its place: the native front end takes over
    if argv is None and os.environ.pop("PAAS_RUNNER_STALE", None) == "1":
        refresh_native(sys.argv[0])
    words = sys.argv[1:] if argv is None else list(argv)
    args = _parse_run_fast(words) or _parser().parse_args(words)
    try:
        return VERBS[args.verb](args)
    except RuntimeLayerError as exc:
        print(f"paas-runner: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"paas-runner: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
