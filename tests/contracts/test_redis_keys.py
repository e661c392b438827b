"""The one module of Redis names: the prefix read and checked once, names built only there, globs literal."""

import ast
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from paas.contracts import redis_keys
from paas.logcenter import schema
from paas.router.telemetry.accesslog import STREAM_MAXLEN, AccessLog

CHECKOUT = Path(__file__).resolve().parents[2]
# What a key name looks like after the prefix: an f-string with one of these right after a
# placeholder, outside contracts/, builds a key by hand.
KEY_STEMS = ("logs:", "run:", "router:", "control:wake", "agent:wake", "autoscale:", "builds:", "login:failures",
             "follows:user", "lock:push")


def test_the_prefix_defaults_and_is_taken_as_given():
    assert redis_keys.prefix({}) == "paas:"
    assert redis_keys.prefix({"PAAS_REDIS_PREFIX": ""}) == "paas:"
    assert redis_keys.prefix({"PAAS_REDIS_PREFIX": "t1-[ab]*:"}) == "t1-[ab]*:"


@pytest.mark.parametrize("value", ["a b", "tab\there", "new\nline", "nul\x00", "caf\u00e9:", "\u202eevil", "x" * 65,
                                   "esc\x1b[31m"])
def test_a_prefix_that_cannot_be_part_of_an_acl_rule_is_refused_by_name(value):
    with pytest.raises(ValueError) as error:
        redis_keys.prefix({"PAAS_REDIS_PREFIX": value})
    message = str(error.value)
    assert message.startswith("PAAS_REDIS_PREFIX=") and "printable ASCII" in message
    assert not any(c in message for c in "\x00\n\t\x1b\u202e")  # shown escaped, never raw


@pytest.mark.parametrize("module", ["paas.platform.settings", "paas.logcenter.settings"])
def test_the_platform_stops_with_one_message_on_a_bad_prefix(module, tmp_path):
    code = f"import {module} as s; getattr(s, 'current', lambda: None)()"
    env = {"PATH": os.environ["PATH"], "PAAS_REDIS_PREFIX": "two words", "PYTHONSAFEPATH": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert "SettingError: PAAS_REDIS_PREFIX='two words'" in result.stderr


def test_the_router_refuses_a_bad_prefix(monkeypatch):
    from paas.router.config import SettingError, Settings

    monkeypatch.setenv("PAAS_REDIS_PREFIX", "two words")
    with pytest.raises(SettingError, match="PAAS_REDIS_PREFIX"):
        Settings.from_env()


def test_log_streams_are_named_alike_by_every_side():
    assert schema.stream_key("p:", "demo") == redis_keys.log_stream("p:", "demo") == "p:logs:demo"
    assert redis_keys.app_of_log_stream("p:", "p:logs:demo") == "demo"
    log = AccessLog("redis://127.0.0.1:1/0", "p:")
    log.add("demo", 3, b"ts", b"GET /")
    assert log.pending[0][:3] == (b"p:logs:demo", b"demo", b"v3")
    assert STREAM_MAXLEN == redis_keys.LOG_MAXLEN


def test_an_app_cannot_take_the_name_of_the_offsets_hash():
    from paas.platform.exceptions import Invalid
    from paas.platform.names import check_app_name

    assert redis_keys.log_offsets("p:") == redis_keys.log_stream("p:", "offsets")
    with pytest.raises(Invalid, match="reserved"):
        check_app_name("offsets")


def test_patterns_match_their_keys_literally_in_a_real_redis():
    """A prefix holding glob characters matches only itself, in SCAN and so in the ACL rules."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    tag = uuid.uuid4().hex[:8]
    ours, other = f"t{tag}[a]*{{}}:", f"t{tag}a-{{}}:"
    keys = [redis_keys.log_stream(ours, "demo"), redis_keys.log_stream(other, "demo"),
            redis_keys.run_streams(ours, "r1")[0], redis_keys.run_streams(other, "r1")[0],
            redis_keys.route_app(ours, "demo"), redis_keys.route_app(other, "demo")]
    try:
        for key in keys:
            client.set(key, "1")
        logs = {k.decode() for k in client.scan_iter(match=redis_keys.log_streams_pattern(ours), count=1000)}
        runs = {k.decode() for k in client.scan_iter(match=redis_keys.run_streams_pattern(ours), count=1000)}
        routes = {k.decode() for k in client.scan_iter(match=redis_keys.route_apps_pattern(ours), count=1000)}
        assert logs == {keys[0]} and runs == {keys[2]} and routes == {keys[4]}
    finally:
        client.delete(*keys)


def _hand_built_keys(path: Path) -> list[str]:
    """f-strings shaped like ``f"{prefix}logs:{app}"``: a placeholder, then a key's stem."""
    found = []
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.JoinedStr):
            for before, after in zip(node.values, node.values[1:]):
                if (isinstance(before, ast.FormattedValue) and isinstance(after, ast.Constant)
                        and str(after.value).startswith(KEY_STEMS)):
                    found.append(f"{path.relative_to(CHECKOUT)}:{node.lineno}")
    return found


def test_no_layer_builds_a_redis_key_by_hand():
    assert all(stem.split(":")[0] in Path(redis_keys.__file__).read_text() for stem in KEY_STEMS)
    found = []
    for layer in ("platform", "runtime", "router", "logcenter", "compose", "services", "web", "buildpacks"):
        for path in sorted((CHECKOUT / layer).rglob("*.py")):
            found += _hand_built_keys(path)
    assert not found, f"Redis key names built outside paas.contracts.redis_keys: {found}"
