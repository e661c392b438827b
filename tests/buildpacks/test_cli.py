"""`python -m paas.buildpacks`: a build from the command line."""

import json
import subprocess
import sys


def test_cli_builds_and_prints_metadata(make_app, tmp_path):
    src = make_app({"index.html": "<p>cli</p>"})
    result = subprocess.run(
        [sys.executable, "-m", "paas.buildpacks", src, "--cache", str(tmp_path / "cache"),
         "--slug", str(tmp_path / "slug.tgz"), "--env", "GREETING=hi"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "-----> Static site app detected" in result.stdout
    metadata = json.loads(result.stdout[result.stdout.index("\n{") + 1:])
    assert metadata["buildpacks"] == ["static"] and metadata["size"] == (tmp_path / "slug.tgz").stat().st_size


def test_cli_reports_a_failed_build(make_app, tmp_path):
    src = make_app({"notes.txt": "nothing to build"})
    result = subprocess.run(
        [sys.executable, "-m", "paas.buildpacks", src, "--cache", str(tmp_path / "cache"),
         "--slug", str(tmp_path / "slug.tgz")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(" !     no buildpack detected this app; looked for:")
