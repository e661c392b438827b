"""A small static file server for the static buildpack: serves the current
directory on 0.0.0.0:$PORT. Directories answer with their index.html, never
a listing; any path with a component starting with "." (.git, .paas,
.profile.d) is a 404. Standard library only, Python 3.8 or newer.
"""

import http.server
import os
import posixpath
import sys
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    server_version = "paas-static"

    def send_head(self):
        path = urllib.parse.urlsplit(self.path).path
        parts = [p for p in posixpath.normpath(urllib.parse.unquote(path)).split("/") if p]
        if any(p.startswith(".") for p in parts):
            self.send_error(404, "Not Found")
            return None
        local = self.translate_path(self.path)
        if os.path.isdir(local) and not os.path.isfile(os.path.join(local, "index.html")):
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    def log_message(self, format, *args):
        # One line per request on stdout, where the platform collects app logs.
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()


def main() -> None:
    port = int(os.environ.get("PORT", "5000"))
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"serving {os.getcwd()} on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
