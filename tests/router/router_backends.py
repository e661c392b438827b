"""Real backend servers on loopback for the router's socket tests."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, so pool reuse can be observed

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body()
        self.server.requests.append((self.command, self.path, self.client_address[1]))
        if "sleep" in query:
            time.sleep(float(query["sleep"]))
        if url.path == "/count":
            data = json.dumps({"received": len(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if url.path == "/big":
            data = b"x" * int(query.get("n", "1000000"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass
            return
        if url.path == "/stream":
            self._stream(int(query.get("n", "3")), float(query.get("gap", "0")))
            return
        doc = {"method": self.command, "path": self.path, "name": self.server.name,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": body.decode("latin-1"), "client_port": self.client_address[1]}
        data = json.dumps(doc).encode()
        self.send_response(int(query.get("status", "200")))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if "sts" in query:   # the app's own HSTS header (the platform's setting replaces it)
            self.send_header("Strict-Transport-Security", query["sts"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, n: int, gap: float):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            chunk = f"part {i}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
            if gap:
                self.server.gate.wait(gap)
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Tests cut connections on purpose (413, send timeouts): not news.
        pass


class EchoBackend:
    """A keep-alive HTTP/1.1 server answering with a JSON echo of the request."""

    def __init__(self, name: str = "echo"):
        self.httpd = _QuietServer(("127.0.0.1", 0), _EchoHandler)
        self.httpd.name = name
        self.httpd.requests = []
        self.httpd.gate = threading.Event()
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def close(self):
        self.httpd.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class RawBackend:
    """A listening socket whose connections are handed to ``handler(conn)``.

    For instances that misbehave at the byte level, and WebSocket echo.
    """

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.received = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            conn.settimeout(10)
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def read_head(conn) -> bytes:
    """Read a request head from a raw connection (bytes up to the blank line)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def free_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
