class CliError(Exception):
    """A failure to report to the user as one line, exiting non-zero."""


class ApiError(CliError):
    """The API answered with an error status: its message, the status and any Retry-After."""

    def __init__(self, message: str, status: int, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
