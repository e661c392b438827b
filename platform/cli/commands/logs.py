"""logs: an app's output, router access lines and platform events, optionally followed."""

import sys
import time

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json

LONG_POLL_S = 20


def register(sub, common, app_option):
    logs = sub.add_parser("logs", parents=[common, app_option], help="show (and with --tail, follow) the app's logs")
    logs.add_argument("-n", "--num", type=int, default=100, help="how many recent lines (1-1500)")
    logs.add_argument("-t", "--tail", action="store_true", help="keep following new lines (Ctrl-C stops)")
    logs.add_argument("-p", "--process", help="only this process (web.1) or type (web)")
    logs.add_argument("-s", "--source", choices=["app", "router", "platform"], help="only lines from this source")
    logs.add_argument("--search", metavar="QUERY",
                      help='search stored lines: words, "phrases", -word, field:value, status:>=500 (newest first)')
    logs.add_argument("--request", metavar="REQUEST_ID", help="the router line and the app's lines of one request")
    logs.add_argument("--since", help="with --search/--request: from this long ago (15m, 1h, 2d) or an RFC 3339 time")
    logs.add_argument("--until", help="with --search/--request: up to this time (same forms)")
    logs.set_defaults(func=show_logs)
    register_usage(sub, common, app_option)
    register_retention(sub, common, app_option)


def query(args, **extra) -> str:
    params = {"process": args.process, "source": args.source, **extra}
    return "&".join(f"{k}={quote(v)}" for k, v in params.items() if v not in (None, ""))


def format_line(row: dict) -> str:
    """Heroku's shape: ``2026-11-22T00:12:03.123456Z app[web.1]: line``."""
    source = row.get("source") or "app"
    who = row.get("process") or source
    return f"{row.get('ts', '')} {source}[{who}]: {row.get('line', '')}"


def show_logs(args) -> int:
    if args.search is not None or args.request:
        return search_logs(args)
    api = Api()
    path = f"apps/{quote(args.app)}/logs"
    page = api.get(f"{path}?{query(args, lines=str(args.num))}")
    emit(args, page["lines"])
    cursor = page["cursor"]
    while args.tail:
        page = api.get(f"{path}?{query(args, after=cursor, wait=str(LONG_POLL_S))}")
        emit(args, page["lines"])
        cursor = page["cursor"]
    return 0


def emit(args, rows: list[dict]) -> None:
    for row in rows:
        if args.json:
            emit_json(row)
        else:
            print(format_line(row))
    sys.stdout.flush()


def search_logs(args) -> int:
    """``--search``: pages of matches, newest first, up to -n lines; ``--request``: one request's lines in order.

    With ``--tail``: the last -n matches in order, then new matches as they are stored."""
    terms = args.search or ""
    if args.tail:
        return tail_search(args, f'{terms} request_id:"{args.request}"'.strip() if args.request else terms)
    if args.request:
        terms = f'{terms} request_id:"{args.request}"'.strip()
    api = Api()
    rows, cursor = [], None
    while len(rows) < args.num:
        params = {"q": terms, "since": args.since, "until": args.until, "limit": str(min(1000, args.num - len(rows))),
                  "cursor": cursor}
        page = api.get(f"apps/{quote(args.app)}/logs/search?"
                       + "&".join(f"{k}={quote(v)}" for k, v in params.items() if v not in (None, "")))
        rows += page["lines"]
        cursor = page.get("cursor")
        if not cursor:
            break
    emit(args, list(reversed(rows)) if args.request else rows)
    return 0


TAIL_POLL_S = 1.0


def tail_search(args, terms: str) -> int:
    """Follow matches of a search: the search answers lines stored after the last one shown (``after``)."""
    api = Api()
    path = f"apps/{quote(args.app)}/logs/search?q={quote(terms)}"
    first = api.get(f"{path}&limit={min(1000, max(1, args.num))}"
                    + "".join(f"&{k}={quote(v)}" for k, v in (("since", args.since), ("until", args.until)) if v))
    emit(args, list(reversed(first["lines"])))
    # The newest line's id (a pending rate-limit marker has none of a stream entry): where following starts.
    after = next((r["id"] for r in first["lines"] if r["id"][:1].isdigit()), "latest")
    while True:
        page = api.get(f"{path}&after={quote(after)}&limit=1000")
        emit(args, page["lines"])
        after = page["cursor"]
        if len(page["lines"]) < 1000:
            time.sleep(TAIL_POLL_S)


def register_usage(sub, common, app_option):
    usage = sub.add_parser("logs:usage", parents=[common, app_option],
                           help="the app's stored log lines: how many, bytes on disk, oldest, retention")
    usage.set_defaults(func=show_usage)


def show_usage(args) -> int:
    report = Api().get(f"apps/{quote(args.app)}/logs/usage")
    if args.json:
        emit_json(report)
        return 0
    print(f"=== {report['app']} logs")
    print(f"Lines:       {report['lines']}")
    print(f"On disk:     {report['disk_bytes'] / 1e6:.1f} MB ({report['text_bytes'] / 1e6:.1f} MB of text)")
    print(f"Oldest line: {report['oldest'] or '-'}   newest: {report['newest'] or '-'}")
    print(f"Kept for:    {report['retention_days']} days")
    return 0


def register_retention(sub, common, app_option):
    kept = sub.add_parser("logs:retention", parents=[common, app_option],
                          help="how many days the app's log lines are kept; with DAYS, change it")
    kept.add_argument("days", nargs="?", type=int, metavar="DAYS", help="keep lines this many days (up to the "
                      "platform's maximum); older ones go within the hour")
    kept.add_argument("--default", action="store_true", help="back to the platform's default")
    kept.set_defaults(func=retention)


def retention(args) -> int:
    api, path = Api(), f"apps/{quote(args.app)}/logs/retention"
    if args.default and args.days is not None:
        raise CliError("give DAYS or --default, not both")
    if args.default or args.days is not None:
        report = api.request("PUT", path, {"days": None if args.default else args.days})
    else:
        report = api.get(path)
    if args.json:
        emit_json(report)
        return 0
    whose = "its own setting" if report["own"] else "the platform's default"
    print(f"{report['app']}'s log lines are kept {report['days']} days ({whose}; "
          f"default {report['default_days']}, at most {report['max_days']})")
    return 0
