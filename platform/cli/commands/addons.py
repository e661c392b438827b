"""addons, addons:services, addons:create, addons:info, addons:attach, addons:detach, addons:destroy."""

import time

from paas.platform.cli.client import Api, quote
from paas.platform.cli.errors import CliError
from paas.platform.cli.output import emit_json, pairs, table

WAIT_S = 180


def register(sub, common, app_option):
    sub.add_parser("addons", parents=[common, app_option],
                   help="list the add-ons the app owns or is attached to").set_defaults(func=list_addons)
    sub.add_parser("addons:services", parents=[common],
                   help="list the services and their plans").set_defaults(func=services, needs_app=False)
    create = sub.add_parser("addons:create", parents=[common, app_option],
                            help="provision an add-on: postgres[:plan] or redis[:plan]")
    create.add_argument("service", metavar="SERVICE[:PLAN]")
    create.add_argument("--as", dest="as_name", metavar="NAME",
                        help="the attachment name: its config var is NAME_URL (needed for a second one)")
    create.add_argument("--no-wait", action="store_true", help="return at once; see addons:info")
    create.set_defaults(func=create_addon)
    info = sub.add_parser("addons:info", parents=[common, app_option], help="one add-on, its state and attachments")
    info.add_argument("name")
    info.set_defaults(func=addon_info)
    attach = sub.add_parser("addons:attach", parents=[common, app_option],
                            help="give another app (-a) the add-on's URL as config")
    attach.add_argument("name")
    attach.add_argument("--as", dest="as_name", metavar="NAME")
    attach.set_defaults(func=attach_addon)
    detach = sub.add_parser("addons:detach", parents=[common, app_option],
                            help="take the add-on's URL away from the app (-a)")
    detach.add_argument("name")
    detach.set_defaults(func=detach_addon)
    destroy = sub.add_parser("addons:destroy", parents=[common, app_option],
                             help="remove an add-on and its data (--confirm the owning app)")
    destroy.add_argument("name")
    destroy.add_argument("--confirm", metavar="APP")
    destroy.set_defaults(func=destroy_addon)


def _rows(addons: list[dict]) -> list[dict]:
    return [{**a, "kind": f"{a['service']}:{a['plan']}",
             "as": ",".join(f"{t['app']}:{t['config_var']}" for t in a["attachments"])} for a in addons]


def list_addons(args) -> int:
    addons = Api().get(f"apps/{quote(args.app)}/addons")
    if args.json:
        emit_json(addons)
        return 0
    table(_rows(addons), [("name", "Add-on"), ("kind", "Plan"), ("app", "Owner"), ("state", "State"),
                          ("as", "Attached as")], empty=f"{args.app} has no add-ons")
    return 0


def services(args) -> int:
    catalog = Api().get("addon-services")
    if args.json:
        emit_json(catalog)
        return 0
    rows = [{"service": s["name"], "plan": p["name"], "description": p["description"],
             "versions": ", ".join(f"{stack}: {v}" for stack, v in s.get("versions", {}).items())}
            for s in catalog for p in s["plans"]]
    table(rows, [("service", "Service"), ("plan", "Plan"), ("description", "What you get"),
                 ("versions", "Version by stack (the app's)")])
    return 0


def wait_available(api: Api, name: str, timeout: float = WAIT_S) -> dict:
    """Poll the add-on's last operation until it succeeds or fails."""
    deadline = time.monotonic() + timeout
    while True:
        addon = api.get(f"addons/{quote(name)}")
        state = addon["last_operation"]["state"]
        if state == "succeeded" and all(a["bound"] for a in addon["attachments"]):
            return addon
        if state == "failed":
            raise CliError(f"{name} could not be provisioned: {addon['last_operation']['description']}")
        if time.monotonic() > deadline:
            raise CliError(f"{name} is still provisioning after {int(timeout)} s: see paas addons:info {name}")
        time.sleep(0.25)


def create_addon(args) -> int:
    api = Api()
    body = {"service": args.service, **({"as": args.as_name} if args.as_name else {})}
    addon = api.post(f"apps/{quote(args.app)}/addons", body)
    if not args.no_wait:
        addon = wait_available(api, addon["name"])
    if args.json:
        emit_json(addon)
        return 0
    var = addon["attachments"][0]["config_var"] if addon["attachments"] else ""
    if args.no_wait:
        print(f"Creating {addon['name']} on {args.app}... provisioning; {var} is set once it is available")
    else:
        print(f"Created {addon['name']} ({addon['service']}:{addon['plan']}) on {args.app}: {var} is set "
              f"(a new release)")
    return 0


def addon_info(args) -> int:
    addon = Api().get(f"addons/{quote(args.name)}")
    if args.json:
        emit_json(addon)
        return 0
    pairs({"Add-on": addon["name"], "Plan": f"{addon['service']}:{addon['plan']}", "Owner": addon["app"],
           "State": addon["state"], "Message": addon["message"], "Server": addon["server"],
           "Restarts": addon["restarts"], "Attached as": _rows([addon])[0]["as"], "Created": addon["created_at"]})
    return 0


def attach_addon(args) -> int:
    body = {"as": args.as_name} if args.as_name else {}
    addon = Api().request("PUT", f"apps/{quote(args.app)}/addons/{quote(args.name)}", body)
    if args.json:
        emit_json(addon)
    else:
        mine = [a for a in addon["attachments"] if a["app"] == args.app]
        print(f"Attached {args.name} to {args.app} as {mine[0]['config_var'] if mine else '?'}")
    return 0


def detach_addon(args) -> int:
    result = Api().delete(f"apps/{quote(args.app)}/addons/{quote(args.name)}")
    if args.json:
        emit_json(result)
    else:
        print(f"Detached {args.name} from {args.app}")
    return 0


def destroy_addon(args) -> int:
    if not args.confirm:
        raise CliError(f"this deletes {args.name} and all its data: confirm with --confirm {args.app}")
    result = Api().delete(f"addons/{quote(args.name)}?confirm={quote(args.confirm)}")
    if args.json:
        emit_json(result)
    else:
        print(f"Destroying {args.name}: its apps lose their URL, then its server and data go")
    return 0
