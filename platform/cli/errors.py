class CliError(Exception):
    """A failure to report to the user as one line, exiting non-zero."""
