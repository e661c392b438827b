"""The build layer's exceptions: every failure a caller sees is a BuildError.

The message is one line meant for the developer who pushed (it ends up as the
last `remote:` line of a rejected push), so it says what went wrong and, where
there is one, what to change.
"""


class BuildError(Exception):
    """A build failed; str(error) is the one-line reason."""


class BuildTimeout(BuildError):
    """A step ran past its time limit; its process group was killed."""


class BuildCancelled(BuildError):
    """The build was cancelled while a step ran; its process group was killed."""
