"""An intercepting TLS proxy, as a company's or this machine's: run as a script by the tests.

    python3 tlsproxy.py PORT CERT KEY ROOT LOG

It answers every CONNECT itself, then speaks TLS to the client with CERT (made for the
requested host and signed by the test's own CA) and serves the files under ROOT over that
connection, as if it were the registry: a client that does not trust the CA fails its
handshake. Each CONNECT's target is appended to LOG. Standard library only.
"""

import functools
import http.server
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_CONNECT(self):  # noqa: N802 (http.server's naming)
        with open(self.server.log_path, "a") as log:
            log.write(self.path + "\n")
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True  # the client refused our certificate
            return
        # The registry's side of the tunnel: plain file serving over the intercepted TLS.
        http.server.SimpleHTTPRequestHandler(tls, self.client_address, self.server, directory=self.server.root)
        self.close_connection = True

    def log_message(self, *args):
        pass


def main() -> None:
    port, cert, key, root, log_path = sys.argv[1:6]
    server = http.server.ThreadingHTTPServer(("0.0.0.0", int(port)), functools.partial(Handler, directory=root))
    server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.tls.load_cert_chain(cert, key)
    server.root = root
    server.log_path = log_path
    server.serve_forever()


if __name__ == "__main__":
    main()
