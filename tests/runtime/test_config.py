"""runtime/config.py: the one reader of the runtime's settings; bad values name the setting."""

import pytest

from paas.runtime import config
from paas.runtime.errors import RuntimeLayerError


@pytest.mark.parametrize("name, value, read", [
    ("PAAS_HOST_CPUS", "two", config.host_cpus),
    ("PAAS_HOST_MEMORY_MB", "-5", config.host_memory_mb),
    ("PAAS_HOST_RESERVED_MB", "1e", config.host_memory_mb),
    ("PAAS_AGENT_INTERVAL", "soon", config.agent_interval),
    ("PAAS_BRIDGE_PREFIX", "33", config.bridge_prefix),
    ("PAAS_BRIDGE_PREFIX", "x", config.bridge_prefix),
])
def test_a_bad_value_is_refused_with_its_settings_name(monkeypatch, name, value, read):
    monkeypatch.delenv("PAAS_HOST_MEMORY_MB", raising=False)  # given, it would spare reading the reserve
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeLayerError, match=name):
        read()


def test_defaults_and_given_values(monkeypatch):
    for name in ("PAAS_HOST_CPUS", "PAAS_HOST_MEMORY_MB", "PAAS_AGENT_INTERVAL", "PAAS_BRIDGE_PREFIX",
                 "PAAS_INSTANCE_NETWORK", "PAAS_CGROUP_VERSION", "PAAS_AGENT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert config.host_cpus() >= 1 and config.host_memory_mb() >= 256
    assert (config.agent_interval(), config.bridge_prefix(), config.instance_network()) == (0.5, 23, "bridge")
    assert config.cgroup_version() is None and config.agent_token() is None
    monkeypatch.setenv("PAAS_HOST_CPUS", "1.5")
    monkeypatch.setenv("PAAS_HOST_MEMORY_MB", "2048")
    monkeypatch.setenv("PAAS_CGROUP_VERSION", "2")
    assert (config.host_cpus(), config.host_memory_mb(), config.cgroup_version()) == (1.5, 2048, 2)
