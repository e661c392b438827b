"""certs:ca (the platform CA), the certificates users upload (certs, certs:add, certs:info, certs:remove) and
automatic ones from ACME (certs:auto, certs:auto:enable, certs:auto:disable)."""

import sys

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, table

MAX_FILE_BYTES = 64 * 1024   # as pki/uploaded.py takes; read no more of a file than that


def register(sub, common, app_option):
    ca = sub.add_parser("certs:ca", parents=[common],
                        help="print the platform CA certificate (curl --cacert <(paas certs:ca) https://...)")
    ca.set_defaults(func=print_ca)
    sub.add_parser("certs", parents=[common, app_option],
                   help="list the app's uploaded certificates and when they expire").set_defaults(func=list_certs)
    add = sub.add_parser("certs:add", parents=[common, app_option],
                         help="upload a certificate (with its intermediates) and its key for verified domains")
    add.add_argument("cert", metavar="CERT", help="PEM file: the certificate, then its intermediates")
    add.add_argument("key", metavar="KEY", help="PEM file: the private key, unencrypted")
    add.set_defaults(func=add_cert)
    info = sub.add_parser("certs:info", parents=[common, app_option], help="show one uploaded certificate")
    info.add_argument("name", metavar="NAME")
    info.set_defaults(func=cert_info)
    remove = sub.add_parser("certs:remove", parents=[common, app_option], help="stop serving a certificate")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=remove_cert)
    sub.add_parser("certs:auto", parents=[common, app_option],
                   help="show automatic certificates (ACME) of the app's domains, with the CA's errors"
                   ).set_defaults(func=auto_status)
    sub.add_parser("certs:auto:enable", parents=[common, app_option],
                   help="get certificates for the app's verified domains from ACME, renewed by themselves"
                   ).set_defaults(func=set_auto, enabled=True)
    sub.add_parser("certs:auto:disable", parents=[common, app_option],
                   help="order no more ACME certificates (issued ones are served until they expire)"
                   ).set_defaults(func=set_auto, enabled=False)


def print_ca(args) -> int:
    ca = Api().get("certs/ca", auth=False)
    if args.json:
        emit_json(ca)
        return 0
    sys.stdout.write(ca["certificate"])
    # The fingerprint goes to stderr so the PEM on stdout stays a file curl and git can read.
    print(f"SHA-256 fingerprint: {ca['sha256']}", file=sys.stderr)
    return 0


def _read(path: str, what: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise CliError(f"cannot read {what} file {path}: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CliError(f"{what} file {path} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise CliError(f"{what} file {path} is not PEM text") from None


def _expiry(cert: dict) -> str:
    return "EXPIRED" if cert["expired"] else f"{cert['expires_at'][:10]} ({cert['expires_in_days']} days)"


def list_certs(args) -> int:
    api = Api()
    certs = api.get(f"apps/{quote(args.app)}/certs")
    auto = api.get(f"apps/{quote(args.app)}/certs/auto")
    if args.json:
        emit_json(certs)
        return 0
    rows = [{**c, "names_shown": ", ".join(c["names"]), "domains_shown": ", ".join(c["domains"]),
             "expiry": _expiry(c)} for c in certs]
    table(rows, [("name", "NAME"), ("source", "SOURCE"), ("names_shown", "NAMES"), ("domains_shown", "SERVES"),
                 ("expiry", "EXPIRES")], empty="No certificates")
    if auto["enabled"]:
        print()
        _auto_table(auto)
    return 0


def _auto_table(auto: dict) -> None:
    rows = [{**d, "error_shown": d["error"] or "", "next": (d["next_try"] or "")[:16].replace("T", " ")}
            for d in auto["domains"]]
    table(rows, [("hostname", "DOMAIN"), ("status", "ACME"), ("next", "NEXT TRY (UTC)"), ("error_shown", "ERROR")],
          empty="Automatic certificates are on; no verified domain yet")


def auto_status(args) -> int:
    auto = Api().get(f"apps/{quote(args.app)}/certs/auto")
    if args.json:
        emit_json(auto)
        return 0
    if not auto["enabled"]:
        print(f"Automatic certificates are off for {args.app} (paas certs:auto:enable)")
        return 0
    _auto_table(auto)
    return 0


def set_auto(args) -> int:
    auto = Api().request("PUT", f"apps/{quote(args.app)}/certs/auto", {"enabled": args.enabled})
    if args.json:
        emit_json(auto)
    elif auto["enabled"]:
        print(f"Automatic certificates are on for {args.app}: each verified domain gets one from ACME within "
              "minutes (paas certs:auto shows progress)")
    else:
        print(f"Automatic certificates are off for {args.app}")
    return 0


def add_cert(args) -> int:
    body = {"certificate": _read(args.cert, "CERT"), "key": _read(args.key, "KEY")}
    cert = Api().post(f"apps/{quote(args.app)}/certs", body)
    if args.json:
        emit_json(cert)
    else:
        print(f"Added certificate {cert['name']} to {args.app}: serves {', '.join(cert['domains'])}, "
              f"expires {_expiry(cert)}")
    return 0


def cert_info(args) -> int:
    cert = Api().get(f"apps/{quote(args.app)}/certs/{quote(args.name)}")
    if args.json:
        emit_json(cert)
        return 0
    print(f"=== {cert['name']} ({args.app})\nNames:       {', '.join(cert['names'])}\n"
          f"Serves:      {', '.join(cert['domains']) or '(no verified domain)'}\nExpires:     {_expiry(cert)}\n"
          f"Fingerprint: {cert['fingerprint']}")
    return 0


def remove_cert(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/certs/{quote(args.name)}")
    print(f"Removed certificate {args.name} from {args.app}")
    return 0
