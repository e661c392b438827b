"""What of the build host's environment reaches build steps: the network settings, no more.

A build step's environment is otherwise only what steps.py sets (the app's config vars reach
buildpacks through ENV_DIR). Where the host reaches package registries only through a proxy or
a mirror, builds must use the same: the names in FORWARDED are copied from the host's
environment into every step's. The CA the host trusts is not a setting here: the build
container trusts it through its /etc/ssl/certs (runtime/trust.py), and CA_ENV points every
tool that keeps its own list (pip's certifi, requests, Node, uv) at that bundle.

A proxy address must be reachable from a build container: the host's loopback is not (a build
has a network namespace of its own), so name a proxy by an address of the network outside.
"""

from collections.abc import Mapping

from .errors import BuildError
from .layout import CA_BUNDLE

# Proxies (both spellings: curl reads only the lowercase http_proxy), Python's and Node's
# package indexes. Credentials in a URL here are seen by every build: use a proxy that needs none.
FORWARDED = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES",
    "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_HTTP_TIMEOUT",
    "npm_config_registry", "NPM_CONFIG_REGISTRY", "YARN_NPM_REGISTRY_SERVER", "COREPACK_NPM_REGISTRY",
    # "0" where the registry (or its mirror) serves package metadata without signatures.
    "COREPACK_INTEGRITY_KEYS",
)
# Tools with a CA list of their own, pointed at the bundle the container trusts.
CA_ENV = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
          "NODE_EXTRA_CA_CERTS")
MAX_VALUE_CHARS = 4096


def forwarded(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed settings found in `environ`, checked (a bad one fails the build, naming it)."""
    found = {}
    for name in FORWARDED:
        value = environ.get(name)
        if value is None or value == "":
            continue
        if len(value) > MAX_VALUE_CHARS or not value.isprintable():
            # Not the value: a proxy URL may carry credentials.
            raise BuildError(f"the build host's {name} is not a usable setting (control characters, or longer "
                             f"than {MAX_VALUE_CHARS} characters); fix it in the platform's environment")
        found[name] = value
    return found


def ca_env() -> dict[str, str]:
    """Every tool's CA setting, naming the bundle the build container trusts."""
    return {name: CA_BUNDLE for name in CA_ENV}


def stacks_env(languages: Mapping[str, Mapping[str, list]]) -> dict[str, str]:
    """The language versions of every stack of the platform, for a buildpack's message when
    the app asks for one its stack lacks: PAAS_STACKS_PYTHON="host=3.11.2 forky=3.13.15,3.14.8",
    PAAS_STACKS_NODE likewise."""
    env = {}
    for language, var in (("python", "PAAS_STACKS_PYTHON"), ("node", "PAAS_STACKS_NODE")):
        parts = [f"{name}={','.join(versions[language])}" for name, versions in sorted(languages.items())
                 if versions.get(language)]
        if parts:
            env[var] = " ".join(parts)
    return env
