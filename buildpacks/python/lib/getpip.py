"""Fetch pip's wheel from the package index into DEST (argv[1]), checking its sha256.

For stacks whose Python has no pip module: a pip wheel runs as
`python pip.whl/pip install ...`. The wheel is kept in the build cache, so
this runs once per app and Python version. Stdlib only.
"""

import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request

INDEX = os.environ.get("PAAS_PIP_JSON_URL", "https://pypi.org/pypi/pip/json")


def wheel_url() -> tuple[str, str]:
    with urllib.request.urlopen(INDEX, timeout=60) as response:
        release = json.load(response)
    for item in release["urls"]:
        if item["packagetype"] == "bdist_wheel":
            # Mirrors of the index may answer with links relative to it.
            return urllib.parse.urljoin(INDEX, item["url"]), item["digests"]["sha256"]
    raise SystemExit("the index lists no wheel for pip")


def main() -> None:
    dest = sys.argv[1]
    url, expected = wheel_url()
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != expected:
        raise SystemExit(f"pip wheel from {url} failed its sha256 check")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".part", "wb") as f:
        f.write(data)
    os.replace(dest + ".part", dest)


main()
