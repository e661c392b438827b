"""domains, domains:add, domains:remove."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common, app_option):
    sub.add_parser("domains", parents=[common, app_option], help="list custom domains").set_defaults(func=list_domains)
    add = sub.add_parser("domains:add", parents=[common, app_option], help="route a hostname to the app")
    add.add_argument("hostname")
    add.set_defaults(func=add_domain)
    remove = sub.add_parser("domains:remove", parents=[common, app_option], help="stop routing a hostname")
    remove.add_argument("hostname")
    remove.set_defaults(func=remove_domain)


def list_domains(args) -> int:
    api = Api()
    app = api.get(f"apps/{quote(args.app)}")
    domains = api.get(f"apps/{quote(args.app)}/domains")
    if args.json:
        emit_json(domains)
        return 0
    print(f"=== {args.app} URL: {app['web_url']}")
    table(domains, [("hostname", "DOMAIN"), ("created_at", "ADDED")], empty="No custom domains")
    return 0


def add_domain(args) -> int:
    domain = Api().post(f"apps/{quote(args.app)}/domains", {"hostname": args.hostname})
    if args.json:
        emit_json(domain)
    else:
        print(f"Added {domain['hostname']} to {args.app}: point its DNS at the paas router")
    return 0


def remove_domain(args) -> int:
    Api().delete(f"apps/{quote(args.app)}/domains/{quote(args.hostname)}")
    print(f"Removed {args.hostname} from {args.app}")
    return 0
