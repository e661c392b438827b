"""``paas-router``: the supervisor process.

It checks the port, forks the workers (each binds the port with SO_REUSEPORT, or
all accept on the socket handed to it: see handover.py), restarts any that die,
serves the admin port, writes the metrics snapshot to Redis, reports READY=1 when
every worker serves, and on SIGTERM asks the workers to drain and stop.
"""

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import signal
import sys
import tempfile

from paas.router.telemetry.admin import Admin
from paas.router.config import SettingError, Settings
from paas.router.serving.handover import ADMIN_FD, LISTEN_FD, TLS_FD, HandoverError, inherited_socket, notify
from paas.router.serving.server import listen_socket, run_worker

log = logging.getLogger("paas.router")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="paas-router", description="The paas App Router.")
    p.add_argument("--host", help="listen address (PAAS_ROUTER_HOST, default 0.0.0.0)")
    p.add_argument("--port", type=int, help="listen port (PAAS_ROUTER_PORT, default 8080)")
    p.add_argument("--workers", type=int, help="worker processes (PAAS_ROUTER_WORKERS, default: cores)")
    p.add_argument("--tls-port", type=int, help="TLS listen port (PAAS_ROUTER_TLS_PORT, default 8443)")
    p.add_argument("--admin-port", type=int, help="metrics port (PAAS_ROUTER_ADMIN_PORT, default 8081)")
    return p.parse_args(argv)


def settings_from(argv) -> Settings:
    args = parse_args(argv)
    s = Settings.from_env()
    for name in ("host", "port", "workers", "admin_port", "tls_port"):
        value = getattr(args, name)
        if value is not None:
            setattr(s, name, value)
    s.workers = max(1, s.workers)
    return s


class Supervisor:
    def __init__(self, settings: Settings, sock=None, admin_sock=None, tls_sock=None):
        self.settings = settings
        #: Handed listening sockets (handover.py): the workers inherit them through fork.
        self.sock = sock
        self.admin_sock = admin_sock
        self.tls_sock = tls_sock
        self.metrics_dir = tempfile.mkdtemp(prefix="paas-router-metrics-")
        self.ctx = multiprocessing.get_context("fork")
        self.workers: dict[int, multiprocessing.Process] = {}
        self.serving: dict[int, multiprocessing.synchronize.Event] = {}
        self.ready_sent = False
        self.stopping = False

    def spawn(self, index: int) -> None:
        path = os.path.join(self.metrics_dir, f"worker-{index}.json")
        serving = self.ctx.Event()
        proc = self.ctx.Process(target=run_worker, args=(self.settings, path, self.sock, serving, self.tls_sock),
                                name=f"paas-router-worker-{index}", daemon=False)
        proc.start()
        self.workers[index] = proc
        self.serving[index] = serving

    def report_ready(self) -> None:
        """READY=1 once, when every first worker serves: a rolling restart stops the old router then."""
        if not self.ready_sent and all(event.is_set() for event in self.serving.values()):
            self.ready_sent = True
            notify("READY=1")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        admin = Admin(self.settings, self.metrics_dir)
        if self.admin_sock is not None:
            server = await asyncio.start_server(admin.serve, sock=self.admin_sock)
        else:
            server = await asyncio.start_server(admin.serve, self.settings.admin_host, self.settings.admin_port)
        snapshot = asyncio.create_task(admin.snapshot_loop())
        log.info("router on :%d with %d workers, admin on %s:%d", self.settings.port,
                 self.settings.workers, self.settings.admin_host, self.settings.admin_port)
        try:
            while not stop.is_set():
                self.respawn_dead()
                self.report_ready()
                try:
                    async with asyncio.timeout(0.05 if not self.ready_sent else 0.5):
                        await stop.wait()
                except TimeoutError:
                    pass
        finally:
            notify("STOPPING=1")
            server.close()
            snapshot.cancel()
            await asyncio.gather(snapshot, return_exceptions=True)
            await loop.run_in_executor(None, self.stop_workers)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def respawn_dead(self) -> None:
        for index, proc in list(self.workers.items()):
            if not proc.is_alive():
                log.error("worker %d (pid %s) exited with %s; restarting", index, proc.pid, proc.exitcode)
                proc.close()
                self.spawn(index)

    def stop_workers(self) -> None:
        for proc in self.workers.values():
            if proc.is_alive():
                proc.terminate()   # SIGTERM: the worker drains, then exits
        grace = self.settings.timeouts.drain + 5
        for proc in self.workers.values():
            proc.join(grace)
            if proc.is_alive():
                proc.kill()
                proc.join()


def main(argv=None) -> int:
    logging.basicConfig(level=os.environ.get("PAAS_ROUTER_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s")
    try:
        settings = settings_from(sys.argv[1:] if argv is None else argv)
    except SettingError as exc:
        print(f"paas-router: {exc}", file=sys.stderr)
        return 2
    try:
        sock, admin_sock, tls_sock = inherited_socket(LISTEN_FD), inherited_socket(ADMIN_FD), inherited_socket(TLS_FD)
    except HandoverError as exc:
        print(f"paas-router: {exc}", file=sys.stderr)
        return 2
    if sock is None:
        try:
            # Fail here, once, rather than in every worker, if the port is taken.
            listen_socket(settings.host, settings.port).close()
        except OSError as exc:
            print(f"paas-router: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
            return 1
    else:
        settings.port = sock.getsockname()[1]   # for the log and the metrics node name
    if tls_sock is not None:
        settings.tls_port = tls_sock.getsockname()[1]
    elif settings.tls_port is not None:
        try:
            listen_socket(settings.host, settings.tls_port).close()
        except OSError as exc:
            print(f"paas-router: cannot listen on {settings.host}:{settings.tls_port}: {exc}", file=sys.stderr)
            return 1
    sup = Supervisor(settings, sock, admin_sock, tls_sock)
    for index in range(settings.workers):
        sup.spawn(index)
    asyncio.run(sup.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
