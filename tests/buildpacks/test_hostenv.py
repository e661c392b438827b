"""Which of the build host's settings reach build steps (buildpacks/hostenv.py)."""

import pytest

from paas.buildpacks import hostenv
from paas.buildpacks.errors import BuildError


def test_only_the_allow_listed_network_settings_are_forwarded():
    host = {"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": "localhost", "PIP_INDEX_URL": "https://mirror/simple",
            "npm_config_registry": "https://npm.mirror/", "DATABASE_URL": "postgres://secret@127.0.0.1/paas",
            "REDIS_URL": "redis://:pw@127.0.0.1", "PAAS_ADMIN_TOKEN": "t", "PIP_CERT": "/host/only/ca.pem",
            "PIP_EXTRA_INDEX_URL": ""}
    assert hostenv.forwarded(host) == {"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": "localhost",
                                       "PIP_INDEX_URL": "https://mirror/simple",
                                       "npm_config_registry": "https://npm.mirror/"}


def test_a_setting_with_control_characters_fails_naming_it_not_its_value():
    with pytest.raises(BuildError, match="HTTPS_PROXY") as error:
        hostenv.forwarded({"HTTPS_PROXY": "http://user:s3cret@proxy\n:3128"})
    assert "s3cret" not in str(error.value)


def test_every_tool_is_pointed_at_the_bundle_the_container_trusts():
    env = hostenv.ca_env()
    assert env["PIP_CERT"] == env["NODE_EXTRA_CA_CERTS"] == env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
