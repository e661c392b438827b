"""Who may do what in the private Redis: one ACL user per component.

A process holds only its own user's password, so a compromised router or agent is
held to the commands and keys its job needs (the keys are the contracts in
router/ROUTES.md and runtime/LOGS.md, all under ``PAAS_REDIS_PREFIX``):

- ``router``: reads the route table (``router:hosts``, ``router:app:*``, ``router:published``), follows
  ``router:changes``, publishes ``router:wake``, appends access lines to
  ``logs:<app>`` and writes its ``router:metrics:<app>`` snapshot. It cannot read
  logs, run streams, Celery's queues or the login throttle, nor write routes.
- ``agent``: appends app output to ``logs:<app>`` with its offsets in
  ``logs:offsets`` (in MULTI/EXEC), relays ``paas run`` streams ``run:*``, follows
  ``agent:wake`` and ``router:wake`` (to thaw an app asleep), publishes ``control:wake`` and
  sets ``agent:pressure:<host>`` (runtime/sleep.py). It cannot touch the route table
  or Celery's queues.
- ``logcenter`` (``paas-logs``): reads the app streams ``logs:*`` through its consumer
  group (XGROUP CREATE, XREADGROUP, XACK) and finds them with SCAN. It cannot write
  logs, routes or queues, nor read offsets or run streams.
- ``platform`` (API, git receiver, build worker, control loop): every key and
  channel, because Celery's broker and result keys (``_kombu.*``, queue names,
  ``celery-task-meta-*``) are not under the prefix and the control plane writes
  what the others read; narrowing it would buy little, as these processes hold the
  database owner's password anyway. Dangerous commands (CONFIG, DEBUG, MODULE,
  KEYS, FLUSHALL, MONITOR, SHUTDOWN, ACL, ...) are refused to it all the same.
- ``admin``: everything; used by set-up and operators, never by a platform process.

The ``default`` user is off: a connection without a user and password gets NOAUTH.
Rules use selectors (Redis 7), so each command is allowed only on its own keys.
"""

COMPONENTS = ("admin", "platform", "router", "agent", "logcenter")


def glob_escape(text: str) -> str:
    """``text`` matched literally in an ACL key or channel pattern (a prefix may hold ``*?[]\\``)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def rules(prefix: str) -> dict[str, str]:
    """The ACL rules (without password) of every component, for keys under ``prefix``."""
    p = glob_escape(prefix)
    # Commands every client needs on a connection: its database, health checks, pub/sub teardown.
    basic = "-@all +select +ping +unsubscribe +punsubscribe"
    return {
        "admin": "~* &* +@all",
        "platform": "~* &* +@all -@dangerous",
        "router": " ".join([
            f"resetchannels &{p}router:changes &{p}router:wake",
            # CLIENT REPLY OFF: the access log's own connection sends XADDs without waiting for replies.
            basic, "+subscribe +publish +scan +client|reply",
            f"(%R~{p}router:hosts %R~{p}router:app:* %R~{p}router:published +hgetall +get +mget +exists)",
            f"(%W~{p}logs:* +xadd)",
            f"(~{p}router:metrics:* +hset +expire)",
        ]),
        "agent": " ".join([
            f"resetchannels &{p}agent:wake &{p}control:wake &{p}router:wake",
            basic, "+subscribe +publish +multi +exec +discard",
            f"(%W~{p}agent:pressure:* +set)",
            f"(%W~{p}logs:* +xadd)",
            f"(~{p}logs:offsets +hget +hset +hdel)",
            f"(~{p}run:* +xadd +xread +expire)",
        ]),
        "logcenter": " ".join([
            "resetchannels", basic, "+scan",
            # XREADGROUP both reads and writes (the group's pending list): read-write keys.
            f"(~{p}logs:* +xreadgroup +xack +xgroup|create +xpending)",
        ]),
    }
