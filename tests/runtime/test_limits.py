"""cgroup limits: memory (OOM reported as such), pids, cpu quota written."""

from paas.runtime import cgroups
from paas.runtime.spec import Limits

HOG = "b = []\nwhile True:\n    b.append(bytearray(4 << 20))\n"


def test_memory_limit_oom_kill_is_reported(runner):
    result = runner(["--network", "none", "--memory", "48M", "--", "python3", "-c", HOG])
    assert result.returncode == 137
    assert "OOM-killed" in result.stderr


def test_pids_limit_stops_a_fork_bomb(runner):
    bomb = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-started"
    result = runner(["--network", "none", "--pids", "16", "--", "sh", "-c", bomb])
    assert "all-started" not in result.stdout
    assert result.returncode != 0
    assert "fork" in result.stderr.lower()


def test_limits_are_written_to_the_cgroup(detached):
    c = detached(["sleep", "30"], limits=Limits(memory=64 << 20, cpus=0.5, pids=32))
    cg = c.cgroup
    assert c.record.pid in cg.pids()
    if isinstance(cg, cgroups.V1Cgroup):
        assert int((cg.dir("memory") / "memory.limit_in_bytes").read_text()) == 64 << 20
        assert int((cg.dir("cpu") / "cpu.cfs_quota_us").read_text()) == 50_000
        assert (cg.dir("pids") / "pids.max").read_text().strip() == "32"
    else:
        assert (cg.path / "memory.max").read_text().strip() == str(64 << 20)
        assert (cg.path / "cpu.max").read_text().split()[0] == "50000"
        assert (cg.path / "pids.max").read_text().strip() == "32"
    stats = c.stats()
    assert stats["memory_bytes"] > 0
