"""pg:backups, pg:backups:capture, pg:backups:info, pg:backups:restore, pg:backups:download, pg:backups:schedule."""

import shutil
import time
import urllib.request

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs, table

WAIT_S = 3600


def register(sub, common, app_option):
    sub.add_parser("pg:backups", parents=[common, app_option],
                   help="the app's backups and restores").set_defaults(func=list_backups)
    capture = sub.add_parser("pg:backups:capture", parents=[common, app_option],
                             help="back up the app's database now (verified by a scratch restore)")
    capture.add_argument("addon", nargs="?", help="the add-on or its config var (default: DATABASE)")
    capture.add_argument("--no-wait", action="store_true")
    capture.set_defaults(func=capture_backup)
    info = sub.add_parser("pg:backups:info", parents=[common, app_option], help="one backup, with its counts")
    info.add_argument("id", help="b001 (or r001 for a restore)")
    info.set_defaults(func=backup_info)
    restore = sub.add_parser("pg:backups:restore", parents=[common, app_option],
                             help="replace the app's database with a verified backup")
    restore.add_argument("id", nargs="?", help="default: the newest backup")
    restore.add_argument("--from", dest="from_app", metavar="APP", help="a backup of another app you may use")
    restore.add_argument("--confirm", metavar="APP", help="the app whose database is replaced")
    restore.set_defaults(func=restore_backup)
    download = sub.add_parser("pg:backups:download", parents=[common, app_option],
                              help="save a backup (pg_dump custom format) to a file")
    download.add_argument("id")
    download.add_argument("-o", "--output", help="file name (default: APP-ID.dump)")
    download.set_defaults(func=download_backup)
    schedule = sub.add_parser("pg:backups:schedule", parents=[common, app_option],
                              help="daily backups at HH:MM UTC (kept 7 daily, 4 weekly)")
    schedule.add_argument("--at", required=True, metavar="HH:MM", help="'off' stops the schedule")
    schedule.set_defaults(func=set_schedule)


def list_backups(args) -> int:
    rows = Api().get(f"apps/{quote(args.app)}/pg/backups")
    if args.json:
        emit_json(rows)
        return 0
    table(rows, [("id", "ID"), ("created_at", "Created"), ("state", "State"), ("addon", "Database"),
                 ("tables", "Tables"), ("rows", "Rows"), ("size_bytes", "Bytes"), ("source", "From")],
          empty=f"{args.app} has no backups: paas pg:backups:capture -a {args.app}")
    return 0


def wait(api: Api, app: str, backup: dict, done: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + WAIT_S
    while backup["state"] not in done + ("failed",):
        if time.monotonic() > deadline:
            raise CliError(f"{backup['id']} is still {backup['state']}: see paas pg:backups:info {backup['id']}")
        time.sleep(0.5)
        backup = api.get(f"apps/{quote(app)}/pg/backups/{quote(backup['id'])}")
    if backup["state"] == "failed":
        raise CliError(f"{backup['id']} failed: {backup['message']}")
    return backup


def capture_backup(args) -> int:
    api = Api()
    backup = api.post(f"apps/{quote(args.app)}/pg/backups", {"addon": args.addon} if args.addon else {})
    if not args.no_wait:
        backup = wait(api, args.app, backup, ("verified",))
    if args.json:
        emit_json(backup)
    elif args.no_wait:
        print(f"Capturing {backup['id']} of {backup['addon']}: paas pg:backups:info {backup['id']} -a {args.app}")
    else:
        print(f"Backup {backup['id']} of {backup['addon']} verified: {backup['tables']} tables, "
              f"{backup['rows']} rows restored in a scratch server and counted")
    return 0


def backup_info(args) -> int:
    backup = Api().get(f"apps/{quote(args.app)}/pg/backups/{quote(args.id)}")
    if args.json:
        emit_json(backup)
        return 0
    counts = backup.pop("counts")
    pairs(backup)
    table([{"table": t, "rows": n} for t, n in counts.items()], [("table", "Table"), ("rows", "Rows")])
    return 0


def restore_backup(args) -> int:
    if args.confirm != args.app:
        raise CliError(f"this replaces the database of {args.app}: confirm with --confirm {args.app}")
    api = Api()
    body = {k: v for k, v in (("backup", args.id), ("from", args.from_app)) if v}
    row = wait(api, args.app, api.post(f"apps/{quote(args.app)}/pg/restores", body), ("succeeded",))
    if args.json:
        emit_json(row)
    else:
        print(f"Restored {row['source']} into {row['addon']} ({args.app})")
    return 0


def download_backup(args) -> int:
    api = Api()
    target = args.output or f"{args.app}-{args.id}.dump"
    request = urllib.request.Request(f"{api.base_url}/api/apps/{quote(args.app)}/pg/backups/{quote(args.id)}/download",
                                     headers={"Authorization": f"Bearer {api.token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "xb") as out:
            shutil.copyfileobj(response, out)
    except FileExistsError:
        raise CliError(f"{target} exists: give another name with -o") from None
    except OSError as error:
        raise CliError(f"download of {args.id} failed: {getattr(error, 'reason', error)}") from None
    print(f"Saved {args.id} to {target} (restore it with pg_restore)")
    return 0


def set_schedule(args) -> int:
    at = "" if args.at == "off" else args.at
    result = Api().request("PUT", f"apps/{quote(args.app)}/pg/backup-schedule", {"at": at})
    if args.json:
        emit_json(result)
    elif result["at"]:
        print(f"Daily backups of {result['addon']} at {result['at']} UTC, kept 7 daily and 4 weekly")
    else:
        print(f"Scheduled backups of {result['addon']} stopped")
    return 0
