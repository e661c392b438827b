"""releases, releases:info, rollback, deploy:image, deploy:canary/promote/abort."""

import os

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs, table


def register(sub, common, app_option):
    listing = sub.add_parser("releases", parents=[common, app_option], help="list releases, newest first")
    listing.add_argument("-n", "--num", type=int, default=15, help="how many to show")
    listing.set_defaults(func=list_releases)
    info = sub.add_parser("releases:info", parents=[common, app_option], help="show one release")
    info.add_argument("version", help="vN")
    info.set_defaults(func=release_info)
    export = sub.add_parser("releases:export", parents=[common, app_option],
                            help="write a release as an image archive (docker load -i FILE)")
    export.add_argument("version", help="vN")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the archive")
    export.set_defaults(func=export_release)
    rollback = sub.add_parser("rollback", parents=[common, app_option], help="roll back to an earlier release")
    rollback.add_argument("version", nargs="?", help="vN (default: the release before the latest)")
    rollback.set_defaults(func=do_rollback)
    image = sub.add_parser("deploy:image", parents=[common, app_option],
                           help="release a prebuilt image: from a registry, or a docker save or OCI archive")
    image.add_argument("reference", nargs="?", metavar="IMAGE", help="registry.example:5000/team/app:1.0")
    image.add_argument("--archive", metavar="FILE", help="the archive (docker save -o FILE IMAGE)")
    image.set_defaults(func=deploy_image)
    canary = sub.add_parser("deploy:canary", parents=[common, app_option], help="send a share of traffic to a release")
    canary.add_argument("version", help="vN")
    canary.add_argument("--percent", type=int, required=True, help="share of web requests, 1-99")
    canary.set_defaults(func=start_canary)
    sub.add_parser("deploy:promote", parents=[common, app_option], help="give the canary all traffic").set_defaults(
        func=promote_canary)
    sub.add_parser("deploy:abort", parents=[common, app_option], help="stop the canary").set_defaults(
        func=abort_canary)


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


def export_release(args) -> int:
    partial = f"{args.output}.part"
    try:
        out = open(partial, "xb")
    except FileExistsError:
        raise CliError(f"{partial} exists: another export is writing it, or remove it") from None
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    try:
        with out:
            size = Api().download(f"apps/{quote(args.app)}/releases/{quote(args.version)}/export", out)
        os.replace(partial, args.output)
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    finally:
        if os.path.exists(partial):  # ours: a failed export leaves nothing
            os.unlink(partial)
    if args.json:
        emit_json({"file": args.output, "bytes": size})
    else:
        print(f"Wrote {args.app} {args.version} to {args.output} ({size / 1024 / 1024:.1f} MB): docker load -i {args.output}")
    return 0


def do_rollback(args) -> int:
    body = {"version": args.version} if args.version else {}
    release = Api().post(f"apps/{quote(args.app)}/rollback", body)
    if args.json:
        emit_json(release)
    else:
        print(f"Rolled back {args.app}: {release['summary']} as v{release['version']}")
    return 0


def deploy_image(args) -> int:
    if bool(args.reference) == bool(args.archive):
        raise CliError("give an image reference or --archive FILE (one of them)")
    if args.reference:
        release = Api().post(f"apps/{quote(args.app)}/images/pull", {"image": args.reference})
    else:
        release = upload_archive(args)
    if args.json:
        emit_json(release)
    else:
        print(f"Released {args.app} v{release['version']}: {release['summary']}")
    return 0


def upload_archive(args) -> dict:
    try:
        stream = open(args.archive, "rb")
    except OSError as error:
        raise CliError(f"cannot read {args.archive}: {error.strerror}") from None
    with stream:
        size = os.fstat(stream.fileno()).st_size
        if not size:
            raise CliError(f"{args.archive} is empty: not an image archive")
        if not args.json:
            print(f"Uploading {args.archive} ({size / 1024 / 1024:.1f} MB) to {args.app}...", flush=True)
        return Api().upload(f"apps/{quote(args.app)}/images", stream, size, "application/x-tar")


def start_canary(args) -> int:
    canary = Api().post(f"apps/{quote(args.app)}/canary", {"version": args.version, "percent": args.percent})
    if args.json:
        emit_json(canary)
    else:
        print(f"Canary v{canary['release']} of {args.app} takes {canary['percent']}% of web requests")
    return 0


def promote_canary(args) -> int:
    release = Api().post(f"apps/{quote(args.app)}/canary/promote")
    if args.json:
        emit_json(release)
    else:
        print(f"Promoted: {release['summary']} as v{release['version']}, rolling out")
    return 0


def abort_canary(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/canary")
    print(f"Canary of {args.app} stopped; the live release takes all traffic")
    return 0
