"""The catalog (OSB's ``GET /v2/catalog``): services, their plans, and parsing ``postgres:standard``.

Plain data and plain code. A plan's memory and CPU are the server container's
limits; its volume is the size of the persistent volume its data lives on.
"""

from dataclasses import dataclass

from paas.platform.exceptions import Invalid


@dataclass(frozen=True)
class Plan:
    name: str
    memory_mb: int
    cpus: float
    volume_mb: int
    description: str


@dataclass(frozen=True)
class Service:
    name: str
    description: str
    env_prefix: str          # DATABASE -> DATABASE_URL when no --as is given
    port: int                # where the server listens in its container
    plans: tuple[Plan, ...]
    aliases: tuple[str, ...] = ()
    tls_port: int | None = None   # TLS on a port of its own (Redis); None: on `port` itself, or none

    def ports(self) -> tuple[int, ...]:
        """The ports it listens on in its container, each with a host port of its own."""
        return (self.port,) if self.tls_port is None else (self.port, self.tls_port)

    @property
    def default_plan(self) -> Plan:
        return self.plans[0]

    def plan(self, name: str) -> Plan:
        for plan in self.plans:
            if plan.name == name:
                return plan
        known = ", ".join(p.name for p in self.plans)
        raise Invalid(f"unknown plan {name!r} for {self.name} (plans: {known})")


PLANS = (Plan("hobby", 256, 0.5, 1024, "256 MB of memory, 1 GB of disk"),
         Plan("standard", 1024, 1.0, 10240, "1 GB of memory, 10 GB of disk"))

SERVICES = (
    Service("postgres", "PostgreSQL, the stack's version", "DATABASE", 5432, PLANS,
            aliases=("postgresql", "heroku-postgresql")),
    Service("redis", "Redis, append-only file on the volume", "REDIS", 6379, PLANS, aliases=("heroku-redis",),
            tls_port=6380),
)


def service(name: str) -> Service:
    for candidate in SERVICES:
        if name == candidate.name or name in candidate.aliases:
            return candidate
    known = ", ".join(s.name for s in SERVICES)
    raise Invalid(f"unknown service {name!r} (services: {known}; see paas addons:services)")


def parse(text: str) -> tuple[Service, Plan]:
    """``postgres`` or ``postgres:standard`` -> (service, plan); Invalid naming what exists otherwise."""
    if not isinstance(text, str) or not text or len(text) > 60:
        raise Invalid("give a service as NAME or NAME:PLAN, such as postgres or redis:standard")
    name, _, plan = text.strip().lower().partition(":")
    found = service(name)
    return found, (found.plan(plan) if plan else found.default_plan)


def as_json(versions=None) -> list[dict]:
    """The catalog; ``versions(service)``: stack -> the version its servers run (serverpackages.versions)."""
    return [{"name": s.name, "description": s.description, "aliases": list(s.aliases),
             "versions": versions(s.name) if versions else {},
             "plans": [{"name": p.name, "memory_mb": p.memory_mb, "cpus": p.cpus, "volume_mb": p.volume_mb,
                        "description": p.description} for p in s.plans]} for s in SERVICES]
