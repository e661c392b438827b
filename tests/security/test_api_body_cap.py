"""Request bodies against the real API server (uvicorn + Django's ASGI handler, as `make up` runs it).

The attack: send the API a body far larger than any endpoint takes, with or without a token.
Django's ASGI handler reads a whole body to a temporary file before any view runs, so
platform/bodycap.py must refuse it first: a declared size over the endpoint's limit is
answered before a byte is sent, a chunked body is cut off at the limit, and the image upload
endpoint (limit: 2 GB) reads nothing from a caller without a valid token.
"""

import json
import socket

import pytest

from paas.platform.actions.tokens import issue_token
from paas.platform.api.body import MAX_BODY_BYTES
from tests.platform.accounts import make_user
from tests.security.test_long_polls import api_process, user_with_app


@pytest.fixture
def server(transactional_db, tmp_path, settings):
    with api_process(tmp_path, settings) as port:
        yield port


def head_only(port: int, head: str) -> tuple[int, dict]:
    """Send a request head and no body; the answer the server gives without waiting for the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode("latin-1"))
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < length_of(raw):
            chunk = conn.recv(65536)
            if not chunk:
                break
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def length_of(raw: bytes) -> int:
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_sent(server):
    status, body = head_only(server, "POST /api/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     f"Content-Length: {10 ** 12}\r\n\r\n")
    assert status == 413 and body["error"] == "payload_too_large"
    assert f"larger than {MAX_BODY_BYTES} bytes" in body["message"]


def test_the_image_upload_reads_nothing_without_a_valid_token(server):
    _, secret, app = user_with_app("uploader")
    _, read_only = issue_token(make_user("reader"), scopes=["read"])
    path = f"/api/apps/{app.name}/images"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {100 * 1024 * 1024}\r\n"
    status, body = head_only(server, head + "\r\n")
    assert status == 401 and "Authorization" in body["message"]
    status, body = head_only(server, head + "Authorization: Bearer not-a-token\r\n\r\n")
    assert status == 401
    status, body = head_only(server, head + f"Authorization: Bearer {read_only}\r\n\r\n")
    assert status == 403 and "scope" in body["message"]
    # Over the upload's own limit: refused for the owner too, before anything is read.
    status, body = head_only(server, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 ** 12}\r\n"
                                     f"Authorization: Bearer {secret}\r\n\r\n")
    assert status == 413


def test_a_chunked_body_is_cut_off_at_the_limit_and_the_api_still_answers(server):
    _, secret, _ = user_with_app("chunker")
    total = 64 * 1024 * 1024   # far more than the kernel's socket buffers hold
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        conn.sendall(f"POST /api/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        with pytest.raises((BrokenPipeError, ConnectionResetError)):   # it stopped reading and closed
            while sent < total:
                conn.sendall(chunk)
                sent += 0x4000
    assert sent < total
    with socket.create_connection(("127.0.0.1", server), timeout=30) as conn:
        body = b'{"name": "after-the-flood"}'
        conn.sendall(f"POST /api/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201")
