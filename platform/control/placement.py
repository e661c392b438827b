"""Choosing a host for each instance: plain code, no database, no I/O.

Rules, in order: a host must be up, have the instance's stack (the root
filesystem its slug runs on: an instance cannot start where it is missing),
have the instance's memory free (memory is never over-committed) and its CPU
share free within the CPU over-commit factor; among those, the one with the
fewest instances of the same app and process type wins (spread), then the one
with the most free memory.
"""

from dataclasses import dataclass, field


@dataclass
class HostCapacity:
    name: str
    memory_mb: int
    cpus: float
    used_memory_mb: int = 0
    used_cpus: float = 0.0
    groups: dict = field(default_factory=dict)  # (app, process_type) -> instances here
    stacks: frozenset = frozenset()  # the stacks this host's agent last reported

    def can_run(self, request: "Request", cpu_overcommit: float) -> bool:
        return request.stack in self.stacks and self.fits(request.memory_mb, request.cpus, cpu_overcommit)

    def free_memory(self) -> int:
        return self.memory_mb - self.used_memory_mb

    def fits(self, memory_mb: int, cpus: float, cpu_overcommit: float) -> bool:
        return self.free_memory() >= memory_mb and self.used_cpus + cpus <= self.cpus * cpu_overcommit + 1e-9

    def take(self, request: "Request") -> None:
        self.used_memory_mb += request.memory_mb
        self.used_cpus += request.cpus
        self.groups[request.group] = self.groups.get(request.group, 0) + 1


@dataclass(frozen=True)
class Request:
    key: object  # what the caller uses to find the instance again
    app: str
    process_type: str
    memory_mb: int
    cpus: float
    stack: str

    @property
    def group(self) -> tuple[str, str]:
        return (self.app, self.process_type)


@dataclass
class Decision:
    placed: dict  # request key -> host name
    unplaced: dict  # request key -> reason


def place(requests: list[Request], hosts: list[HostCapacity], cpu_overcommit: float = 4.0) -> Decision:
    """Place each request on a host, updating ``hosts`` as capacity is taken."""
    decision = Decision({}, {})
    for request in requests:
        host = best_host(request, hosts, cpu_overcommit)
        if host is None:
            decision.unplaced[request.key] = why_not(request, hosts, cpu_overcommit)
            continue
        host.take(request)
        decision.placed[request.key] = host.name
    return decision


def best_host(request: Request, hosts: list[HostCapacity], cpu_overcommit: float) -> HostCapacity | None:
    best, best_rank = None, None
    for host in hosts:
        if not host.can_run(request, cpu_overcommit):
            continue
        rank = (host.groups.get(request.group, 0), -host.free_memory(), host.name)
        if best_rank is None or rank < best_rank:
            best, best_rank = host, rank
    return best


def why_not(request: Request, hosts: list[HostCapacity], cpu_overcommit: float) -> str:
    if not hosts:
        return "no host is up to run it"
    offered = sorted(set().union(*(host.stacks for host in hosts)))
    hosts = [host for host in hosts if request.stack in host.stacks]
    if not hosts:
        return (f"no host up has the stack {request.stack!r} (hosts up have: {', '.join(offered) or 'none'}); "
                "build it on a host (paas-runner stack:build) or set the app's stack")
    most_memory = max(host.free_memory() for host in hosts)
    if most_memory < request.memory_mb:
        return (f"no host has {request.memory_mb} MB free (the most free on any host is {most_memory} MB); "
                "scale down or add a host")
    return f"no host has {request.cpus:g} CPU free; scale down or add a host"
