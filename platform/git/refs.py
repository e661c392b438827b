"""Which pushed refs deploy: plain decisions, no I/O."""

DEPLOY_BRANCHES = (b"refs/heads/main", b"refs/heads/master")
ZERO = b"0" * 40


def push_problem(client_refs: list[tuple[bytes, bytes, bytes]]) -> str | None:
    """Why this push cannot be taken, or None. Each item is (old sha, new sha, ref)."""
    if not client_refs:
        return "nothing to push"
    names = [ref for _, _, ref in client_refs]
    others = [ref.decode("utf-8", "replace") for ref in names if ref not in DEPLOY_BRANCHES]
    if others:
        shown = ", ".join(name.removeprefix("refs/heads/") for name in others)
        return (f"pushes to {shown} do not deploy: only main or master do "
                f"(to deploy another branch: git push paas {others[0].removeprefix('refs/heads/')}:main)")
    if len(names) > 1:
        return "push main or master, not both at once"
    if client_refs[0][1] == ZERO:
        return f"deleting {names[0].decode().removeprefix('refs/heads/')} is not allowed: it is what the app runs"
    return None
