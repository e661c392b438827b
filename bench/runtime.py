"""Benchmark of the App Runtime: start latency against runc and docker, idle cost, density.

    .venv/bin/python bench/runtime.py [--runs 30] [--instances 1000] [--overhead-sample 100] [--latency-only]

Set-up (its own): installs runc and docker.io with apt-get when missing, starts
dockerd when none answers (no iptables changes, no bridge), builds one minimal
root filesystem (/bin/true, /bin/sh and a tiny static HTTP server) and loads it
into runc (a bundle) and docker (`docker import`). Then, on that same rootfs:

1. start-to-exit latency of `true`: `paas-runner run`, `runc run`, `docker run --rm`
   (network none for all three), medians over --runs runs each;
2. idle overhead: memory the platform adds per idle instance beyond the app's own
   (kernel memory the containers add, per instance, plus PID 1's own PSS);
3. density: idle instances of the HTTP app started on the bridge network and all
   answering HTTP at once.

Ends with RESULT lines; a missed target is printed as measured, not hidden.
--latency-only runs step 1 alone and prints only its two RESULT lines.
"""

import argparse
import json
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

ROOTFS = BENCH_DIR / "rootfs"
RUNNER = [str(Path(sys.executable).parent / "paas-runner")]
DOCKER_IMAGE = "paas-bench-rootfs:latest"

HTTP_APP = r"""
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    const char *port = getenv("PORT");
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 5000)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) return 1;
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    for (;;) {
        int c = accept(s, 0, 0);
        if (c < 0) continue;
        char buf[1024];
        if (read(c, buf, sizeof buf) > 0 && write(c, reply, sizeof reply - 1) < 0) {}
        close(c);
    }
}
"""


def say(text: str) -> None:
    print(f"-----> {text}", flush=True)


# -- set-up -------------------------------------------------------------------

def ensure_packages() -> None:
    missing = [pkg for cmd, pkg in (("runc", "runc"), ("dockerd", "docker.io")) if shutil.which(cmd) is None]
    if missing:
        say(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def ensure_dockerd() -> subprocess.Popen | None:
    if docker_ok():
        return None
    say("starting dockerd (no iptables, no default bridge)")
    log = open(BENCH_DIR / "dockerd.log", "ab")
    proc = subprocess.Popen(["dockerd", "--iptables=false", "--ip-masq=false", "--bridge=none"],
                            stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while not docker_ok():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"dockerd did not come up; see {BENCH_DIR / 'dockerd.log'}")
        time.sleep(0.2)
    return proc


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


def build_runc_bundle() -> Path:
    bundle = BENCH_DIR / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"] = {"path": str(ROOTFS), "readonly": True}
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def docker_import() -> None:
    tar_path = BENCH_DIR / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(ROOTFS, arcname=".")
    subprocess.run(["docker", "import", str(tar_path), DOCKER_IMAGE], check=True, capture_output=True)


# -- measurements ---------------------------------------------------------------

def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {result.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def measure_start(runs: int, bundle: Path) -> dict[str, float]:
    """Median start-to-exit time of each tool; runs interleaved so load on a shared host hits all alike."""
    tools = {
        "paas-runner": lambda i: RUNNER + ["run", "--network", "none", "--rootfs", str(ROOTFS), "--", "/bin/true"],
        "runc": lambda i: ["runc", "run", "-b", str(bundle), f"paas-bench-{os.getpid()}-{i}"],
        "docker": lambda i: ["docker", "run", "--rm", "--network", "none", DOCKER_IMAGE, "/bin/true"],
    }
    samples: dict[str, list[float]] = {name: [] for name in tools}
    for i in range(runs + 2):
        for name, cmd in tools.items():
            elapsed = timed(cmd(i))
            if i >= 2:  # the first two rounds warm caches (the init binary, the image)
                samples[name].append(elapsed)
    results = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in results.items():
        say(f"{name:12s} start-to-exit median {value * 1000:8.1f} ms over {runs} runs")
    return results


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


def measure_overhead(sample: int) -> float:
    """MB the platform adds per idle instance beyond the app's own memory.

    = the kernel memory the containers add (per instance) + PID 1's own PSS.
    The app's own pages are not in either term. The host-wide MemAvailable
    delta is printed too, but other processes on a shared machine move it.
    """
    before_kernel, before_used = kernel_bytes(), mem_used_bytes()
    instances = start_http_instances(sample, "none")
    try:
        time.sleep(1.0)  # let the kernel settle its lazy frees before reading meminfo
        n = max(1, len(instances))
        kernel = (kernel_bytes() - before_kernel) / n
        used = (mem_used_bytes() - before_used) / n
        app_pss = [pss_bytes(p) for p in (app_pid(c) for c in instances) if p]
        own = statistics.mean(app_pss) if app_pss else 0.0
        init_pss = statistics.mean(pss_bytes(c.record.pid) for c in instances)
        say(f"{len(instances)} idle instances, each: kernel memory {kernel / 2**20:.3f} MB, PID 1's PSS "
            f"{init_pss / 2**20:.3f} MB, app's own PSS {own / 2**20:.3f} MB; "
            f"host-wide MemAvailable drop {used / 2**20:.2f} MB (noisy on a shared machine)")
        return (kernel + init_pss) / 2**20
    finally:
        stop_all(instances)


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--overhead-sample", type=int, default=100)
    parser.add_argument("--latency-only", action="store_true", help="only the start-to-exit latency (step 1)")
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    ensure_packages()
    dockerd = ensure_dockerd()
    try:
        say("building the shared rootfs, runc bundle and docker image")
        build_rootfs()
        bundle = build_runc_bundle()
        docker_import()
        latency = measure_start(args.runs, bundle)
        if not args.latency_only:
            overhead = measure_overhead(args.overhead_sample)
            density = measure_density(args.instances)
    finally:
        if dockerd is not None:
            dockerd.terminate()
            dockerd.wait(30)
    vs_runc = latency["paas-runner"] / latency["runc"]
    vs_docker = latency["paas-runner"] / latency["docker"]
    print(f"RESULT start_vs_runc {vs_runc:.3f} <= 1.0")
    print(f"RESULT start_vs_docker {vs_docker:.3f} <= 0.1")
    if args.latency_only:
        return 0
    print(f"RESULT idle_overhead_mb {overhead:.3f} <= 1.5")
    print(f"RESULT idle_instances {density} >= 1000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
