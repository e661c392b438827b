"""paas-runner: the operator's low-level command for containers and stacks.

    paas-runner run [--memory 256M] [--cpus 0.5] [--pids 256] [--network bridge|host|none]
                    [--stack NAME | --rootfs DIR] [--layer DIR]... [--env K=V]...
                    [--workdir DIR] [--hostname H] [--user U] -- CMD...
    paas-runner stack:build NAME
    paas-runner stack:list
    paas-runner sweep
    paas-runner init:build

``run`` behaves like ``runc run`` / ``docker run --rm``: stdio attached, the
container's exit code as its own (137 after an OOM kill), 125 with a one-line
message for bad input or a failure to start. It starts the container the way
the agent, builds and one-offs do: ``container.create`` and ``start``, the
one start path of the runtime.
"""

import argparse
import sys
from pathlib import Path

from .errors import RuntimeLayerError

EXIT_BAD_INPUT = 125


def _parser() -> argparse.ArgumentParser:
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
    run.add_argument("command", nargs=argparse.REMAINDER)
    build = sub.add_parser("stack:build", help="build a stack (host, or a Debian release with debootstrap)")
    build.add_argument("name")
    sub.add_parser("stack:list", help="list the stacks on this host")
    sub.add_parser("sweep", help="remove what crashed containers left behind")
    sub.add_parser("init:build", help="build the container helper now (make install does), not at the first start")
    relay = sub.add_parser("relay", help="start a created container attached to Redis streams (paas run)")
    relay.add_argument("id")
    relay.add_argument("--no-tty", action="store_true", help="pipes instead of a terminal")
    return parser


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


def _init_build(args) -> int:
    from .initbin import init_binary

    print(init_binary())
    return 0


def _relay(args) -> int:
    from .relaymain import main as relay_main

    return relay_main(args.id, tty=not args.no_tty)


VERBS = {"run": _run, "stack:build": _stack_build, "stack:list": _stack_list, "sweep": _sweep, "relay": _relay,
         "init:build": _init_build}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
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
