"""releases, releases:info, rollback."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, pairs, table


def register(sub, common, app_option):
    listing = sub.add_parser("releases", parents=[common, app_option], help="list releases, newest first")
    listing.add_argument("-n", "--num", type=int, default=15, help="how many to show")
    listing.set_defaults(func=list_releases)
    info = sub.add_parser("releases:info", parents=[common, app_option], help="show one release")
    info.add_argument("version", help="vN")
    info.set_defaults(func=release_info)
    rollback = sub.add_parser("rollback", parents=[common, app_option], help="roll back to an earlier release")
    rollback.add_argument("version", nargs="?", help="vN (default: the release before the latest)")
    rollback.set_defaults(func=do_rollback)


def list_releases(args) -> int:
    releases = Api().get(f"apps/{quote(args.app)}/releases")[: max(args.num, 1)]
    if args.json:
        emit_json(releases)
    else:
        for release in releases:
            release["v"] = f"v{release['version']}"
        print(f"=== {args.app} releases")
        table(releases, [("v", "VERSION"), ("summary", "DESCRIPTION"), ("status", "STATUS"),
                         ("created_by", "BY"), ("created_at", "CREATED")])
    return 0


def release_info(args) -> int:
    release = Api().get(f"apps/{quote(args.app)}/releases/{quote(args.version)}")
    if args.json:
        emit_json(release)
    else:
        pairs(release)
    return 0


def do_rollback(args) -> int:
    body = {"version": args.version} if args.version else {}
    release = Api().post(f"apps/{quote(args.app)}/rollback", body)
    if args.json:
        emit_json(release)
    else:
        print(f"Rolled back {args.app}: {release['summary']} as v{release['version']}")
    return 0
