"""How the CLI shows things to people."""



def test_uptime_is_said_for_people():
    from datetime import datetime, timedelta, timezone

    from paas.platform.cli.commands.ps import uptime

    now = datetime.now(timezone.utc)
    assert uptime((now - timedelta(seconds=42)).isoformat()) in ("42s", "43s")
    assert uptime((now - timedelta(hours=2, minutes=5)).isoformat()) == "2h 5m"
    assert uptime((now - timedelta(days=3, hours=1)).isoformat()) == "3d 1h"
    assert uptime(None) == ""


def test_tables_align_and_shorten_times(capsys):
    from paas.platform.cli.output import table

    table([{"name": "a", "created_at": "2026-11-01T10:00:00.123456+00:00"}, {"name": "longer", "created_at": None}],
          [("name", "NAME"), ("created_at", "CREATED")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "NAME    CREATED"
    assert lines[2] == "a       2026-11-01 10:00:00"
    assert lines[3] == "longer"
