#!/bin/sh
# jq comes from the Aptfile (with its libraries, found through LD_LIBRARY_PATH).
site=$(mktemp -d)
echo '{"a": {"b": "apt says hi"}}' | jq -r .a.b > "$site/index.html"
jq --version >> "$site/index.html"
cd "$site" && exec python3 -m http.server "$PORT"
