import pytest

from paas.platform.env import SettingError, env_bool, env_int, parse_database_url


def test_database_url_is_parsed_into_django_settings():
    db = parse_database_url("postgres://u:p%40ss@db.local:6543/paas?sslmode=require")
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == ("u", "p@ss", "db.local", "6543", "paas")
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host:5432/", "nonsense"])
def test_bad_database_urls_are_refused(url):
    with pytest.raises(SettingError):
        parse_database_url(url)


def test_booleans_are_parsed_strictly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "ture")
    with pytest.raises(SettingError):
        env_bool("X_FLAG")


def test_ints_are_range_checked(monkeypatch):
    monkeypatch.setenv("X_PORT", "70000")
    with pytest.raises(SettingError):
        env_int("X_PORT", 1, 1, 65535)


def import_settings(tmp_path, **env):
    """Import the platform's settings in a fresh interpreter with only ``env`` set; the finished process."""
    import subprocess
    import sys

    env = {**env, "PATH": "/usr/bin:/bin", "PYTHONSAFEPATH": "1"}
    return subprocess.run([sys.executable, "-c", "import paas.platform.settings"], env=env, capture_output=True,
                          text=True, cwd=tmp_path)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = import_settings(tmp_path, PAAS_PRODUCTION="1")
    assert result.returncode != 0
    assert "PAAS_SECRET_KEY" in result.stderr


def test_a_bad_log_center_setting_stops_the_platform_at_start(tmp_path):
    """The API reads the Log Center's settings for its log endpoints: a bad one stops it at start, named."""
    result = import_settings(tmp_path, PAAS_LOG_RATE_LIMIT="lots")
    assert result.returncode != 0
    assert "PAAS_LOG_RATE_LIMIT='lots' is not an integer" in result.stderr
