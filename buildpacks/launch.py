"""How a slug's process is started: the runtime's rule (paas.runtime.launch), named here for the buildpacks.

Buildpacks leave `.profile.d/*.sh` scripts in the slug; the runtime sources
them before a Procfile command. The rule lives in the runtime, which starts
every process; the build layer (which depends on the runtime, never the
reverse) uses it from there.
"""

from paas.runtime.launch import process_argv

__all__ = ["process_argv"]
