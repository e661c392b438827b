"""What a stack offers apps: its languages and their versions, read from its package database.

Every stack here is Debian (the host stack is this Debian machine's own /usr), so dpkg's
status file lists what is installed: ``python3.X`` packages are interpreters, ``nodejs`` is
Node. Reading it runs nothing of the stack (no chroot, no root), so the API can answer
`paas stacks` from a stack built by any version of the platform.
"""

import os
import re
from pathlib import Path

from . import stacks

MAX_STATUS_BYTES = 64 << 20
_PYTHON = re.compile(r"python3\.(\d+)")


def _status_file(name: str) -> Path:
    if name == "host":
        return Path("/var/lib/dpkg/status")
    return stacks.stack_dir(name) / "rootfs" / "var" / "lib" / "dpkg" / "status"


def installed_packages(status_text: str) -> dict[str, str]:
    """package -> upstream version (no epoch, no Debian revision) of every installed package."""
    found = {}
    for paragraph in status_text.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Status|Version): (.*)$", paragraph, re.MULTILINE))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields and "Version" in fields:
            version = fields["Version"].split(":", 1)[-1]
            found[fields["Package"]] = re.split(r"[-+~]", version, maxsplit=1)[0]
    return found


def languages_from(packages: dict[str, str]) -> dict[str, list[str]]:
    """{"python": ["3.13.5", "3.14.8"], "node": ["24.21.0"]}: versions, oldest first."""
    python = sorted((v for p, v in packages.items() if _PYTHON.fullmatch(p)), key=_version_key)
    node = [packages["nodejs"]] if "nodejs" in packages else []
    return {"python": python, "node": node}


def languages(name: str) -> dict[str, list[str]]:
    """The language versions stack `name` provides (empty lists when its package database is unreadable).

    Every build asks for every stack's (its message names them): a package database read once is
    kept while its file is the same (inode, size, time), as parsing the host's costs ~0.1 s."""
    try:
        with open(_status_file(name), "rb") as f:
            st = os.fstat(f.fileno())
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            known = _parsed.get(name)
            if known is not None and known[0] == stamp:
                return {kind: list(versions) for kind, versions in known[1].items()}
            text = f.read(MAX_STATUS_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return {"python": [], "node": []}
    found = languages_from(installed_packages(text))
    _parsed[name] = (stamp, found)
    return {kind: list(versions) for kind, versions in found.items()}


_parsed: dict[str, tuple[tuple, dict[str, list[str]]]] = {}  # stack name -> (file stamp, languages)


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
