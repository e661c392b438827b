"""Asking ``paas-logs`` (logcenter/service.py) from another process: one JSON request over its Unix socket."""

import json
import socket
from pathlib import Path

MAX_ANSWER = 64 << 20


class LogCenterUnavailable(Exception):
    """paas-logs is not running or did not answer in time."""


class LogCenterRefused(ValueError):
    """paas-logs refused the request as bad input; the message names the problem (a 400)."""


def ask(socket_path: Path, request: dict, timeout: float = 10.0) -> dict:
    """The answer of paas-logs to ``request``; raises LogCenterRefused or LogCenterUnavailable."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            chunks, size = [], 0
            while size <= MAX_ANSWER:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        raise LogCenterUnavailable(f"the log center is not answering ({exc.__class__.__name__})") from None
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        raise LogCenterUnavailable("the log center gave no answer") from None
    if answer.get("unavailable"):
        raise LogCenterUnavailable("the log center could not search")
    if "error" in answer:
        raise LogCenterRefused(answer["error"])
    return answer


def states_by_id(socket_path: str, op: str, app: str, waiting: dict, unknown: dict) -> tuple[dict, dict]:
    """paas-logs' live state of an app's drains or alerts (``op``), keyed by row id, and the state
    of a row it does not report: ``waiting`` (not started yet) or, when paas-logs is away, ``unknown``."""
    try:
        return {s["id"]: s for s in ask(socket_path, {"op": op, "app": app})[op]}, waiting
    except (LogCenterUnavailable, LogCenterRefused):
        return {}, unknown
