"""certs:ca: the platform CA's certificate, for clients to trust the router's HTTPS."""

import sys

from paas.platform.cli.client import Api
from paas.platform.cli.output import emit_json


def register(sub, common):
    ca = sub.add_parser("certs:ca", parents=[common],
                        help="print the platform CA certificate (curl --cacert <(paas certs:ca) https://...)")
    ca.set_defaults(func=print_ca)


def print_ca(args) -> int:
    ca = Api().get("certs/ca", auth=False)
    if args.json:
        emit_json(ca)
        return 0
    sys.stdout.write(ca["certificate"])
    # The fingerprint goes to stderr so the PEM on stdout stays a file curl and git can read.
    print(f"SHA-256 fingerprint: {ca['sha256']}", file=sys.stderr)
    return 0
