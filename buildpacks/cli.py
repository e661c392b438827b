"""`python -m paas.buildpacks SOURCE_DIR`: build a directory into a slug on this machine.

For developers and benchmarks: runs the driver with the local executor,
prints the build output as it comes and the slug's metadata as JSON last.
Exit status 0 on success, 1 with the one-line reason on a failed build.
"""

import argparse
import json
import os
import sys

from .driver import DEFAULT_COMPILE_TIMEOUT_S, DEFAULT_MAX_SLUG_BYTES, build
from .errors import BuildError
from .executor import LocalExecutor


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m paas.buildpacks", description=__doc__.splitlines()[0])
    parser.add_argument("source_dir")
    parser.add_argument("--cache", required=True, help="the app's build cache dir (created if missing)")
    parser.add_argument("--slug", required=True, help="where to write the slug (.tgz)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a config var (repeatable)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_COMPILE_TIMEOUT_S, help="compile time limit, seconds")
    parser.add_argument("--max-slug-bytes", type=int, default=DEFAULT_MAX_SLUG_BYTES)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run one build; returns the exit status."""
    args = parse_args(argv)
    config = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--env needs NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        config[name] = value
    os.makedirs(args.cache, exist_ok=True)
    try:
        slug = build(
            args.source_dir, args.cache, args.slug,
            executor=LocalExecutor(), config=config, on_output=lambda line: print(line, flush=True),
            compile_timeout=args.timeout, max_slug_bytes=args.max_slug_bytes,
        )
    except BuildError as exc:
        print(f" !     {exc}", file=sys.stderr)
        return 1
    print(json.dumps(slug.metadata(), indent=2))
    return 0
