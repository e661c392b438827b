"""teams, teams:create, teams:add, teams:remove."""

from paas.platform.cli.client import Api, quote
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    sub.add_parser("teams", parents=[common], help="list your teams").set_defaults(func=list_teams)
    create = sub.add_parser("teams:create", parents=[common], help="create a team")
    create.add_argument("name")
    create.set_defaults(func=create_team)
    add = sub.add_parser("teams:add", parents=[common], help="add a member to a team")
    add.add_argument("team")
    add.add_argument("user")
    add.add_argument("--role", choices=["admin", "member"], default="member")
    add.set_defaults(func=add_member)
    remove = sub.add_parser("teams:remove", parents=[common], help="remove a member from a team")
    remove.add_argument("team")
    remove.add_argument("user")
    remove.set_defaults(func=remove_member)


def list_teams(args) -> int:
    teams = Api().get("teams")
    if args.json:
        emit_json(teams)
    else:
        for team in teams:
            team["who"] = [f"{m['user']} ({m['role']})" for m in team["members"]]
        table(teams, [("name", "TEAM"), ("who", "MEMBERS")], empty="You are in no team")
    return 0


def create_team(args) -> int:
    team = Api().post("teams", {"name": args.name})
    print(f"Created team {team['name']}")
    return 0


def add_member(args) -> int:
    Api().post(f"teams/{quote(args.team)}/members", {"user": args.user, "role": args.role})
    print(f"Added {args.user} to {args.team} as {args.role}")
    return 0


def remove_member(args) -> int:
    Api().delete(f"teams/{quote(args.team)}/members/{quote(args.user)}")
    print(f"Removed {args.user} from {args.team}")
    return 0
