"""Benchmark of the App Runtime and of what users wait for: starts, scale-out, one-offs, wakes, idle cost.

    .venv/bin/python -P bench/runtime.py [--runs 30] [--instances 1000] [--overhead-sample 50]
        [--rounds 5] [--wake-apps 3] [--wake-cycles 2] [--latency-only] [--skip-platform | --platform-only]

Part one, the runtime alone (its own bridge, pool and cgroup parent):

1. start_vs_docker: start-to-exit of `/bin/true` on the path the agent uses to start an
   instance (``container.create`` + ``start`` from a running interpreter, on the bridge, as
   the agent does, until its exit is collected), against ``docker run`` of the same root
   filesystem and command on a bridge network of Docker's own (until it exits); both removed
   afterwards, untimed; medians over --runs interleaved runs. The benchmark starts a Docker
   engine of its own (``Dockerd``: its data, exec root, pid file and socket under
   /tmp/paas-bench/docker, so it meets no other dockerd on the machine) that never touches
   the host's iptables (no rules, no masquerade, no default bridge); Docker's bridge network
   is made by ``docker network create`` and so costs Docker what ours costs us: a veth pair,
   an address, a bridge port. It stops the engine at the end, network removed. The same path
   on ``network none`` (ours and ``docker run --network none``) is printed beside it.
2. idle_instances: idle HTTP instances on the bridge, all answering at once.

Part two, with the platform running (bench/userwaits.py: ``make up`` on a data directory of
its own, as tests/faults/upplatform.py starts it), through the real ``paas`` CLI and router:
scale_out_s, run_first_output_s, wake_from_frozen_s, wake_from_zero_s, and idle_overhead_mb
(a bridged web instance as the agent starts it: veth, leases, log shipping, the agent's and
Redis's own growth). The minimal app is the static HTTP server below, pushed with a Procfile.

Ends with RESULT lines; a missed goal is printed as measured, not hidden. A round with a
non-2xx answer or a socket error is invalid: counted and reported, not scored.
--latency-only runs step 1 alone; --skip-platform skips part two; --platform-only runs part two alone.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path("/tmp/paas-bench")
# The benchmark's own runtime settings, so it never touches the platform's instances.
os.environ.update({
    "PAAS_RUNTIME_DIR": str(BENCH_DIR / "runtime"),
    "PAAS_CGROUP_PARENT": "paas-bench",
    "PAAS_BRIDGE": "paasbench0",
    "PAAS_ADDRESS_POOL": "10.215.0.0/16",
})
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOTFS = BENCH_DIR / "rootfs"
DOCKER_IMAGE = "paas-bench-rootfs:latest"
DOCKER_DIR = BENCH_DIR / "docker"
DOCKER_SOCKET = DOCKER_DIR / "docker.sock"
# Docker's own bridge network for the comparison: an address range and bridge name of its own.
DOCKER_NETWORK, DOCKER_BRIDGE, DOCKER_SUBNET = "paas-bench", "pbenchdk0", "10.241.0.0/24"

HTTP_APP = r"""
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    const char *port = getenv("PORT"), *dyno = getenv("DYNO");
    const char *body = dyno ? dyno : "ok";  /* which instance answered, for the scale-out measure */
    char reply[256];
    int n = snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 5000)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) return 1;
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        char buf[1024];
        if (read(c, buf, sizeof buf) > 0 && write(c, reply, n) < 0) {}
        close(c);
    }
}
"""


def say(text: str) -> None:
    print(f"-----> {text}", flush=True)


# -- set-up -------------------------------------------------------------------

def ensure_packages() -> None:
    """Docker is the peer: installed with apt-get when no dockerd is on this machine."""
    if shutil.which("dockerd") is None:
        say("apt-get install docker.io (the peer: no Docker engine on this machine)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io"], check=True, env=env)


def docker(*args: str) -> list[str]:
    """A docker command for the bench's own engine (never the machine's default socket)."""
    return ["docker", "--host", f"unix://{DOCKER_SOCKET}", *args]


class Dockerd:
    """The bench's Docker engine: started here, stopped here, sharing nothing with another dockerd."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def ok(self) -> bool:
        return subprocess.run(docker("info"), capture_output=True, check=False).returncode == 0

    def start(self) -> None:
        say("starting the bench's dockerd (own data, exec root and socket; no iptables, no default bridge)")
        DOCKER_DIR.mkdir(parents=True, exist_ok=True)
        with open(DOCKER_DIR / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "--host", f"unix://{DOCKER_SOCKET}", "--data-root", str(DOCKER_DIR / "data"),
                 "--exec-root", str(DOCKER_DIR / "exec"), "--pidfile", str(DOCKER_DIR / "dockerd.pid"),
                 "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none"],
                stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.ok():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"dockerd did not come up; see {DOCKER_DIR / 'dockerd.log'}")
            time.sleep(0.2)
        subprocess.run(docker("network", "rm", DOCKER_NETWORK), capture_output=True, check=False)  # a killed run's
        subprocess.run(docker("network", "create", "--driver", "bridge", "--subnet", DOCKER_SUBNET,
                              "--opt", f"com.docker.network.bridge.name={DOCKER_BRIDGE}", DOCKER_NETWORK),
                       check=True, capture_output=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        subprocess.run(docker("network", "rm", DOCKER_NETWORK), capture_output=True, check=False)
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        # Its bridge, should the engine have died before removing the network.
        subprocess.run(["ip", "link", "del", DOCKER_BRIDGE], capture_output=True, check=False)


def _libs(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                libs.append(p)
    return libs


def build_rootfs() -> None:
    """A minimal rootfs: /bin/true, /bin/sh and their libraries, plus the static HTTP app."""
    if ROOTFS.exists():
        shutil.rmtree(ROOTFS)
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "app"):
        (ROOTFS / d).mkdir(parents=True)
    os.chmod(ROOTFS / "tmp", 0o1777)
    for binary in ("/usr/bin/true", "/bin/sh"):
        real = os.path.realpath(binary)
        shutil.copy2(real, ROOTFS / "bin" / Path(binary).name)
        for lib in _libs(real):
            target = ROOTFS / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(lib), target)
    src = BENCH_DIR / "httpapp.c"
    src.write_text(HTTP_APP)
    subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(ROOTFS / "app" / "httpapp"), str(src)], check=True)
    (ROOTFS / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\napp:x:10000:10000:app:/app:/bin/sh\n")
    (ROOTFS / "etc" / "group").write_text("root:x:0:\napp:x:10000:\n")


def docker_import() -> None:
    tar_path = BENCH_DIR / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(ROOTFS, arcname=".")
    subprocess.run(docker("import", str(tar_path), DOCKER_IMAGE), check=True, capture_output=True)


# -- measurements ---------------------------------------------------------------

def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def agent_path(i: int, network: str) -> float:
    """Start-to-exit of /bin/true as the agent starts an instance: create, start, its exit collected.

    The removal afterwards is not timed, as Docker's is not (``docker rm`` after the timed run).
    """
    from paas.runtime import container
    from paas.runtime.spec import ContainerSpec, Limits

    spec = ContainerSpec(command=("/bin/true",), layers=(ROOTFS,), network=network, id=f"bs{os.getpid()}x{i}",
                         limits=Limits(memory=32 << 20, pids=16, tmp=1 << 20, disk=4 << 20), stop_grace=0.2)
    t0 = time.perf_counter()
    c = container.create(spec)
    c.start()
    c.wait(30)
    outcome = c.mark_stopped()
    elapsed = time.perf_counter() - t0
    container.release(c.id, network)
    if outcome.exit_code != 0:
        raise SystemExit(f"/bin/true on the agent's path exited {outcome.exit_code}: {outcome.error}")
    return elapsed


def docker_run(i: int, network: str) -> float:
    """``docker run`` timed to the container's exit; its removal after, untimed, as ours is."""
    name = f"paas-bench-{os.getpid()}-{network}-{i}"
    elapsed = timed(docker("run", "--name", name, "--network", network, DOCKER_IMAGE, "/bin/true"))
    subprocess.run(docker("rm", name), capture_output=True, check=False)
    return elapsed


def measure_start(runs: int) -> dict[str, float]:
    """Median start-to-exit time of each; runs interleaved so load on a shared host hits all alike."""
    tools = {
        "agent path (bridge)": lambda i: agent_path(i, "bridge"),
        "docker (bridge)": lambda i: docker_run(i, DOCKER_NETWORK),
        "agent path (none)": lambda i: agent_path(i, "none"),
        "docker (none)": lambda i: docker_run(i, "none"),
    }
    samples: dict[str, list[float]] = {name: [] for name in tools}
    for i in range(runs + 2):
        for name, run in tools.items():
            elapsed = run(i)
            if i >= 2:  # the first two rounds warm caches (the init binary, the image, the bridge)
                samples[name].append(elapsed)
    results = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in results.items():
        say(f"{name:20s} start-to-exit median {value * 1000:8.1f} ms over {runs} runs")
    say(f"network none: agent path / docker = {results['agent path (none)'] / results['docker (none)']:.3f}; "
        f"load average {Path('/proc/loadavg').read_text().split()[0]}")
    return results


def _remove_bench_bridge() -> None:
    """The benchmark's bridges (a thousand instances fill two), forwarders and firewall chains: gone after."""
    from paas.runtime import firewall, ipam, network

    index = 0
    while (segment := ipam.segment(index)).network.subnet_of(ipam.pool()):
        if index == 0 or network.link_exists(segment.bridge):
            network.remove_bridge(segment)
        index += 1
    firewall.remove_rules()


def meminfo() -> dict[str, int]:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0]) * 1024
    return info


def mem_used_bytes() -> int:
    info = meminfo()
    return info["MemTotal"] - info["MemAvailable"]


# Memory the kernel spends on containers (namespaces, mounts, cgroups, overlay,
# sockets: slab; PID 1's stack and page tables; tmpfs contents: shmem). Other
# processes on a shared machine move these far less than MemAvailable.
KERNEL_FIELDS = ("Slab", "KernelStack", "PageTables", "Shmem")


def kernel_bytes() -> int:
    info = meminfo()
    return sum(info.get(k, 0) for k in KERNEL_FIELDS)


def pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def app_pid(container) -> int | None:
    """The app process: the child of the container's PID 1."""
    try:
        children = Path(f"/proc/{container.record.pid}/task/{container.record.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def http_ok(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:5000/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_http_instances(count: int, network: str) -> list:
    from paas.runtime import container
    from paas.runtime.spec import ContainerSpec, Limits
    started = []
    for i in range(count):
        spec = ContainerSpec(command=("/app/httpapp",), layers=(ROOTFS,), env=(("PORT", "5000"),),
                             network=network, id=f"bench{os.getpid()}x{i}", workdir="/app",
                             limits=Limits(memory=32 << 20, pids=16, tmp=1 << 20, disk=4 << 20),
                             stop_grace=0.2)
        try:
            c = container.create(spec)
            c.start()
        except Exception as exc:  # report how far it got instead of dying
            say(f"instance {i} failed to start: {exc}")
            break
        started.append(c)
        if (i + 1) % 100 == 0:
            say(f"{i + 1} instances started")
    return started


def stop_all(instances) -> None:
    from paas.runtime import container
    for c in instances:
        c.signal(9)
    for c in instances:
        c.wait(5)
        try:
            c.mark_stopped()
        except Exception:
            pass
        container.release(c.id)


def measure_density(target: int) -> int:
    t0 = time.monotonic()
    instances = start_http_instances(target, "bridge")
    say(f"{len(instances)} bridge instances started in {time.monotonic() - t0:.1f} s")
    try:
        deadline = time.monotonic() + 120
        pending = list(instances)
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending if not http_ok(c.record.network["address"])]
            if pending:
                time.sleep(0.5)
        # All at once: every instance answers in one final sweep (an instance
        # gets three tries, so one request lost on a loaded host is not a death).
        healthy = sum(1 for c in instances if any(http_ok(c.record.network["address"]) for _ in range(3)))
        say(f"{healthy} of {len(instances)} bridge instances answered HTTP in the final sweep; "
            f"host memory in use {mem_used_bytes() / 2**30:.2f} GB")
        return healthy
    finally:
        stop_all(instances)


def platform_part(args) -> dict[str, object]:
    """Part two: the platform running, measured through the CLI and the router."""
    import userwaits

    results: dict[str, object] = {}
    say("starting the platform (make up on a data directory of its own)")
    up = userwaits.Up()
    try:
        say("pushing the minimal app (static HTTP server, Procfile) and the Flask apps")
        binary = (ROOTFS / "app" / "httpapp").read_bytes()
        up.push("mini", {"Procfile": "web: ./httpapp\n", "httpapp": binary})
        up.cli("ps:scale", "web=1", "-a", "mini")
        flasks = [f"flask{n}" for n in range(args.wake_apps)]
        for app in flasks:
            up.push(app, userwaits.FLASK_APP)
            up.cli("autoscale:set", "web", "--min", "0", "--max", "1", "-a", app)
        measures = {
            "scale_out_s": lambda: userwaits.scale_out(up, "mini", args.rounds),
            "run_first_output_s": lambda: userwaits.run_first_output(up, "mini", args.rounds),
            "wakes": lambda: userwaits.wakes(up, flasks, args.wake_cycles),
            "idle_overhead_mb": lambda: userwaits.idle_overhead(up, "mini", args.overhead_sample, kernel_bytes,
                                                                pss_bytes),
        }
        for name, measure in measures.items():
            try:
                results[name] = measure()
            except RuntimeError as exc:  # one measure that could not finish: reported, the others still run
                say(f"{name}: not measured: {exc}")
        if "wakes" in results:
            results["wake_from_frozen_s"], results["wake_from_zero_s"] = results.pop("wakes")
    finally:
        up.stop()
    return results


def report(name: str, samples, op: str, goal: str) -> None:
    for reason in samples.invalid:
        say(f"{name}: invalid round (not scored): {reason}")
    value = samples.median()
    shown = ", ".join(f"{v:.3f}" for v in samples.values)
    say(f"{name}: {len(samples.values)} valid rounds [{shown}], {len(samples.invalid)} invalid")
    print(f"RESULT {name} {'invalid' if value is None else f'{value:.3f}'} {op} {goal}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--overhead-sample", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of scale-out and of paas run")
    parser.add_argument("--wake-apps", type=int, default=3, help="Flask apps put to sleep and woken each cycle")
    parser.add_argument("--wake-cycles", type=int, default=2, help="each about a minute of idleness")
    parser.add_argument("--latency-only", action="store_true", help="only the start-to-exit latency (step 1)")
    parser.add_argument("--skip-platform", action="store_true", help="only the runtime's own measures")
    parser.add_argument("--platform-only", action="store_true", help="only part two (the platform running)")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if args.platform_only:
        build_rootfs()
        return print_platform(platform_part(args))
    try:
        runtime_part(args)
    finally:
        _remove_bench_bridge()
    return 0 if args.skip_platform or args.latency_only else print_platform(platform_part(args))


def runtime_part(args) -> None:
    """Part one: start_vs_docker (with the bench's dockerd, stopped right after), idle_instances."""
    ensure_packages()
    dockerd = Dockerd()
    try:
        dockerd.start()
        say("building the shared rootfs and docker image")
        build_rootfs()
        docker_import()
        latency = measure_start(args.runs)
    finally:
        dockerd.stop()
    print(f"RESULT start_vs_docker {latency['agent path (bridge)'] / latency['docker (bridge)']:.3f} <= 0.1")
    if not args.latency_only:
        print(f"RESULT idle_instances {measure_density(args.instances)} >= 1000")


def print_platform(platform: dict) -> int:
    if "idle_overhead_mb" in platform:
        print(f"RESULT idle_overhead_mb {platform['idle_overhead_mb']:.3f} <= 1.5")
    for name, goal in (("scale_out_s", "1.0"), ("run_first_output_s", "0.5"), ("wake_from_zero_s", "1.0"),
                       ("wake_from_frozen_s", "0.05")):
        if name in platform:
            report(name, platform[name], "<=", goal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
