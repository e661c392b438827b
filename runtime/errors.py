"""The App Runtime's exceptions: every error the runtime raises on purpose is one of these.

``SpecError`` is bad input (the CLI maps it to exit code 125 like docker), the
others are failures of the host or of a container's lifecycle.
"""


class RuntimeLayerError(Exception):
    """Base of all runtime errors; the message is one line meant for a human."""


class SpecError(RuntimeLayerError):
    """The container description is invalid: unknown stack, missing layer, bad limit, ..."""


class StateError(RuntimeLayerError):
    """A lifecycle transition that the container's current state does not allow."""


class CgroupError(RuntimeLayerError):
    """A cgroup could not be created, configured or removed."""


class NetworkError(RuntimeLayerError):
    """The network namespace, veth, address or firewall rules could not be set up."""

    def __init__(self, message: str, errno: int = 0):
        super().__init__(message)
        self.errno = errno  # the kernel's, where it refused a netlink request


class StackError(RuntimeLayerError):
    """A stack is unknown or cannot be built."""


class ImageError(RuntimeLayerError):
    """An image is missing, corrupt, or cannot be fetched or unpacked."""


class InitBuildError(RuntimeLayerError):
    """The static PID 1 helper could not be compiled."""
