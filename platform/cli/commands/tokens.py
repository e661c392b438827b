"""tokens, tokens:create, tokens:revoke."""

from paas.platform.cli.client import Api
from paas.platform.cli.output import emit_json, table


def register(sub, common):
    sub.add_parser("tokens", parents=[common], help="list your API tokens").set_defaults(func=list_tokens)
    create = sub.add_parser("tokens:create", parents=[common], help="create an API token (shown once)")
    create.add_argument("--description", default="", help="what the token is for")
    create.add_argument("--scope", action="append", choices=["read", "write"], help="repeat for several (default: both)")
    create.add_argument("--expires-in-days", type=int, help="lifetime in days")
    create.set_defaults(func=create_token)
    revoke = sub.add_parser("tokens:revoke", parents=[common], help="revoke a token at once")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=revoke_token)


def list_tokens(args) -> int:
    tokens = Api().get("tokens")
    if args.json:
        emit_json(tokens)
    else:
        table(tokens, [("id", "ID"), ("prefix", "PREFIX"), ("description", "DESCRIPTION"), ("scopes", "SCOPES"),
                       ("active", "ACTIVE"), ("expires_at", "EXPIRES"), ("last_used_at", "LAST USED")])
    return 0


def create_token(args) -> int:
    body = {"description": args.description}
    if args.scope:
        body["scopes"] = args.scope
    if args.expires_in_days is not None:
        body["expires_in_days"] = args.expires_in_days
    token = Api().post("tokens", body)
    if args.json:
        emit_json(token)
    else:
        print(f"Token {token['id']} (shown only now): {token['token']}")
    return 0


def revoke_token(args) -> int:
    token = Api().delete(f"tokens/{args.id}")
    print(f"Revoked token {token['id']} ({token['prefix']}…)")
    return 0
