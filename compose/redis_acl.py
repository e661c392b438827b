"""Who may do what in the private Redis: one ACL user per component.

A process holds only its own user's password, so a compromised router or agent is
held to the commands and keys its job needs (the keys are the contracts in
contracts/redis_keys.py, which builds the patterns below, all under ``PAAS_REDIS_PREFIX``):

- ``router``: reads the route table (``router:hosts``, ``router:app:*``, ``router:published``), follows
  ``router:changes``, reads uploaded certificates (``tls:certs``) and single ACME challenge answers
  (``acme:challenges``, HGET), publishes ``router:wake``, appends access lines to (and trims)
  ``logs:<app>`` and writes its ``router:metrics:<app>`` snapshot. It cannot read
  logs, run streams, Celery's queues or the login throttle, nor write routes.
- ``agent``: appends app output to ``logs:<app>`` with its offsets in
  ``logs:offsets`` (in MULTI/EXEC), relays ``paas run`` streams ``run:*``, follows
  ``agent:wake`` and ``router:wake`` (to thaw an app asleep), publishes ``control:wake`` and
  sets ``agent:pressure:<host>`` (runtime/sleep.py). It cannot touch the route table
  or Celery's queues.
- ``logcenter`` (``paas-logs`` and its ingest workers, ``paas-logs-ingest``): reads the app
  streams ``logs:*`` through its consumer group (XGROUP CREATE, XREADGROUP, XACK; XPENDING and
  XCLAIM to take over a dead consumer's entries) and finds them with SCAN; it reads the
  drains, alerts and retentions the API published (``logcenter:drains``, ``logcenter:alerts``,
  ``logcenter:retention``). It cannot write logs, routes or
  queues, nor read offsets or run streams.
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

from paas.contracts import redis_keys as k

COMPONENTS = ("admin", "platform", "router", "agent", "logcenter")


def _key(name: str) -> str:
    """One key or channel, matched literally (a prefix may hold ``*?[]\\``)."""
    return k.glob_escape(name)


def _under(name: str) -> str:
    """Every key that starts with ``name``."""
    return k.glob_escape(name) + "*"


def rules(prefix: str) -> dict[str, str]:
    """The ACL rules (without password) of every component, for keys under ``prefix`` (paas.contracts)."""
    logs = k.log_streams_pattern(prefix)
    # Commands every client needs on a connection: its database, health checks, pub/sub teardown.
    basic = "-@all +select +ping +unsubscribe +punsubscribe"
    return {
        "admin": "~* &* +@all",
        "platform": "~* &* +@all -@dangerous",
        "router": " ".join([
            f"resetchannels &{_key(k.route_changes(prefix))} &{_key(k.router_wake(prefix))}",
            # CLIENT REPLY OFF: the access log's own connection sends XADDs without waiting for replies.
            basic, "+subscribe +publish +scan +client|reply",
            f"(%R~{_key(k.route_hosts(prefix))} %R~{k.route_apps_pattern(prefix)} "
            f"%R~{_key(k.route_published(prefix))} +hgetall +get +mget +exists)",
            # Uploaded certificates with their private keys: read by the router alone (and Platform Control).
            f"(%R~{_key(k.tls_certificates(prefix))} +hgetall)",
            # ACME HTTP-01 answers (pki/challenges.py): one field per request, never the whole hash.
            f"(%R~{_key(k.acme_challenges(prefix))} +hget)",
            # XTRIM: the access log trims each stream it wrote once per batch (router/telemetry/accesslog.py);
            # no more than XADD's own MAXLEN could do.
            f"(%W~{logs} +xadd +xtrim)",
            f"(~{_under(k.router_metrics(prefix, ''))} +hset +expire)",
        ]),
        "agent": " ".join([
            f"resetchannels &{_key(k.agent_wake(prefix))} &{_key(k.control_wake(prefix))} &{_key(k.router_wake(prefix))}",
            basic, "+subscribe +publish +multi +exec +discard",
            f"(%W~{k.agent_pressure_pattern(prefix)} +set)",
            f"(%W~{logs} +xadd)",
            f"(~{_key(k.log_offsets(prefix))} +hget +hset +hdel)",
            f"(~{k.run_streams_pattern(prefix)} +xadd +xread +expire)",
        ]),
        "logcenter": " ".join([
            "resetchannels", basic, "+scan",
            # XREADGROUP both reads and writes (the group's pending list): read-write keys.
            # XCLAIM: a dead consumer's pending entries taken over (logcenter/ingest.py claim).
            f"(~{logs} +xreadgroup +xack +xgroup|create +xpending +xclaim)",
            # The drains, alerts and retentions the API published (logcenter/drains.py, alerts.py, retention.py):
            # read only.
            f"(%R~{_key(k.log_drains(prefix))} %R~{_key(k.log_alerts(prefix))} %R~{_key(k.log_retention(prefix))} "
            "+hgetall)",
        ]),
    }
