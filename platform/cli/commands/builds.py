"""builds, builds:info, builds:cancel, builds:cache:clear."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, pairs, table


def register(sub, common, app_option):
    sub.add_parser("builds", parents=[common, app_option], help="list builds, newest first").set_defaults(func=list_builds)
    info = sub.add_parser("builds:info", parents=[common, app_option], help="show a build and its output")
    info.add_argument("build", help="build id (or its first 8 characters)")
    info.set_defaults(func=build_info)
    cancel = sub.add_parser("builds:cancel", parents=[common, app_option], help="cancel a running build")
    cancel.add_argument("build", help="build id (or its first 8 characters)")
    cancel.set_defaults(func=cancel_build)
    clear = sub.add_parser("builds:cache:clear", parents=[common, app_option], help="empty the build cache")
    clear.set_defaults(func=clear_cache)


def list_builds(args) -> int:
    builds = Api().get(f"apps/{quote(args.app)}/builds")
    if args.json:
        emit_json(builds)
        return 0
    for row in builds:
        row["short"] = row["id"][:8]
        row["sha"] = (row["commit"] or "")[:7]
        row["took"] = f"{row['duration_s']:.1f}s" if row["duration_s"] is not None else ""
    table(builds, [("short", "ID"), ("status", "STATUS"), ("sha", "COMMIT"), ("buildpack", "BUILDPACK"),
                   ("took", "DURATION"), ("created_at", "STARTED")], empty="No builds yet: git push paas main")
    return 0


def build_info(args) -> int:
    build = Api().get(f"apps/{quote(args.app)}/builds/{quote(args.build)}")
    if args.json:
        emit_json(build)
        return 0
    output = build.pop("output")
    pairs(build)
    print()
    print(output, end="")
    return 0


def cancel_build(args) -> int:
    build = Api().post(f"apps/{quote(args.app)}/builds/{quote(args.build)}/cancel")
    print(f"Cancelling build {build['id'][:8]} of {args.app}")
    return 0


def clear_cache(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/build-cache")
    print(f"Cleared the build cache of {args.app}: the next build starts cold")
    return 0
