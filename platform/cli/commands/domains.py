"""domains, domains:add, domains:verify, domains:remove."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common, app_option):
    sub.add_parser("domains", parents=[common, app_option],
                   help="list custom domains, their state and the TXT record each needs").set_defaults(
        func=list_domains)
    add = sub.add_parser("domains:add", parents=[common, app_option],
                         help="claim a hostname for the app (routed once verified)")
    add.add_argument("hostname")
    add.add_argument("--skip-verification", action="store_true",
                     help="admins only: route it now, without the DNS check (recorded in the audit log)")
    add.set_defaults(func=add_domain)
    verify = sub.add_parser("domains:verify", parents=[common, app_option],
                            help="check the hostname's TXT record and route it once it holds the app's token")
    verify.add_argument("hostname")
    verify.set_defaults(func=verify_domain)
    remove = sub.add_parser("domains:remove", parents=[common, app_option], help="stop routing a hostname")
    remove.add_argument("hostname")
    remove.set_defaults(func=remove_domain)


def with_record(domain: dict) -> dict:
    record = domain["record"]
    pending = domain["state"] == "pending"
    return {**domain, "txt_name": record["name"] if pending else "", "txt_value": record["value"] if pending else ""}


def list_domains(args) -> int:
    api = Api()
    app = api.get(f"apps/{quote(args.app)}")
    domains = api.get(f"apps/{quote(args.app)}/domains")
    if args.json:
        emit_json(domains)
        return 0
    print(f"=== {args.app} URL: {app['web_url']}")
    table([with_record(d) for d in domains],
          [("hostname", "DOMAIN"), ("state", "STATE"), ("txt_name", "TXT RECORD TO CREATE"), ("txt_value", "VALUE"),
           ("created_at", "ADDED")], empty="No custom domains")
    return 0


def add_domain(args) -> int:
    body = {"hostname": args.hostname}
    if args.skip_verification:
        body["skip_verification"] = True
    domain = Api().post(f"apps/{quote(args.app)}/domains", body)
    if args.json:
        emit_json(domain)
    elif domain["state"] == "verified":
        print(f"Added {domain['hostname']} to {args.app}, routed without verification: point its DNS at the paas router")
    else:
        record = domain["record"]
        print(f"Added {domain['hostname']} to {args.app}. To prove you control it, create this DNS record:\n\n"
              f"    {record['name']}  TXT  \"{record['value']}\"\n\n"
              f"then run: paas domains:verify {domain['hostname']} -a {args.app}\n"
              "It is routed once verified; point its DNS at the paas router.")
    return 0


def verify_domain(args) -> int:
    domain = Api().post(f"apps/{quote(args.app)}/domains/{quote(args.hostname)}/verify")
    if args.json:
        emit_json(domain)
    else:
        print(f"Verified {domain['hostname']}: it is routed to {args.app}")
    return 0


def remove_domain(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/domains/{quote(args.hostname)}")
    print(f"Removed {args.hostname} from {args.app}")
    return 0
