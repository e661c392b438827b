"""How a process type's command is started from an unpacked slug.

Buildpacks leave `.profile.d/*.sh` scripts in the slug that set PATH,
PYTHONPATH and the like relative to $HOME (Heroku's convention), so the slug
works wherever it is unpacked. The runner (or a test) starts a process with
HOME and the working directory set to the unpacked slug (/app in a
container) and this argv.
"""

# Sources every profile script, then hands the command to a fresh bash so a
# simple command replaces the shell (signals reach the app directly). The
# command is passed as an argument, never spliced into the script text.
_PRELUDE = (
    'for f in "$HOME"/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; '
    'exec /bin/bash -c "$1"'
)


def process_argv(command: str) -> list[str]:
    """argv that runs a Procfile command the way Heroku's dynos do."""
    return ["/bin/bash", "-c", _PRELUDE, "paas-launch", command]
