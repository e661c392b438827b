"""Build pipeline errors: each message is shown to the developer in the git client."""

from paas.platform.exceptions import Conflict, Invalid


class BuildRejected(Invalid):
    """The pushed code cannot be built as it is (bad tree, too large, no buildpack)."""


class PushInProgress(Conflict):
    """Another push to the same app is being built."""
