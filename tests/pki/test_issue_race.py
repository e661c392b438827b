"""Router workers start together and each asks for the wildcard certificate: the files they end
with must be one certificate and its own key."""

import multiprocessing
import ssl

from paas.pki import authority


def _ensure(directory: str, start) -> None:
    start.wait()
    from pathlib import Path

    authority.ensure_server_files(Path(directory), "*.example.test", ["example.test"])


def test_concurrent_issues_leave_a_matching_pair(tmp_path, monkeypatch):
    monkeypatch.setenv("PAAS_DATA_DIR", str(tmp_path / "data"))
    authority.ensure_ca()  # the CA exists already when the router starts
    for round_ in range(3):
        directory = tmp_path / f"router{round_}"
        ctx = multiprocessing.get_context("fork")
        start = ctx.Event()
        workers = [ctx.Process(target=_ensure, args=(str(directory), start)) for _ in range(4)]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(60)
            assert worker.exitcode == 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Raises ssl.SSLError (KEY_VALUES_MISMATCH) when the key is another issue's.
        context.load_cert_chain(directory / "_wildcard.example.test.crt", directory / "_wildcard.example.test.key")
