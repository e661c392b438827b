"""The search query language, parsed in plain code."""

from datetime import datetime, timedelta, timezone

import pytest

from paas.logcenter.query import QueryError, Term, make_cursor, parse, parse_cursor, time_range

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def test_words_phrases_exclusions():
    assert parse('error "connection reset" -health -"GET /ping"') == [
        Term("word", "error"), Term("phrase", "connection reset"),
        Term("word", "health", negate=True), Term("phrase", "GET /ping", negate=True)]
    assert parse("") == [] and parse("   ") == []


def test_fields_and_comparisons():
    assert parse('status:>=500 duration:>800 bytes:10 level:error path:"/a b" -method:GET') == [
        Term("compare", 500.0, field="status", op=">="), Term("compare", 800.0, field="duration", op=">"),
        Term("compare", 10.0, field="bytes", op="="), Term("field", "error", field="level"),
        Term("field", "/a b", field="path"), Term("field", "GET", field="method", negate=True)]
    assert parse("request_id:abc-123")[0] == Term("field", "abc-123", field="request_id")


def test_a_lone_dash_is_a_word():
    assert parse("a - b") == [Term("word", "a"), Term("word", "-"), Term("word", "b")]


@pytest.mark.parametrize("text, problem", [
    ('"unterminated', "unbalanced quote"),
    ('ok -"half', "unbalanced quote"),
    ("colour:red", "unknown field 'colour'"),
    ("status:>=abc", "status: wants a number"),
    ("status:5xx", "status: wants a number"),
    ("level:", "level: wants a value"),
    ("x" * 1001, "longer than 1000"),
    ("a\x00b", "control characters"),
    (" ".join(["w"] * 40), "more than 32 terms"),
])
def test_bad_queries_name_the_problem(text, problem):
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert problem in str(caught.value)


def test_a_bad_query_does_not_echo_all_of_itself():
    with pytest.raises(QueryError) as caught:
        parse("f" * 500 + ":x")
    assert len(str(caught.value)) < 200


def test_times():
    assert time_range("1h", None, NOW) == (NOW - timedelta(hours=1), NOW)
    assert time_range("2026-12-06T10:00:00Z", "30m", NOW) == (datetime(2026, 12, 6, 10, tzinfo=timezone.utc),
                                                              NOW - timedelta(minutes=30))
    assert time_range(None, None, NOW) == (NOW - timedelta(days=1), NOW)
    with pytest.raises(QueryError, match="since is after until"):
        time_range("10m", "1h", NOW)
    for bad in ("yesterday", "2026-12-06T10:00:00", "0h", "1w", "-1h"):
        with pytest.raises(QueryError, match="since: wants"):
            time_range(bad, None, NOW)


def test_cursor_round_trip_and_refusals():
    assert parse_cursor(make_cursor(123, "1700000000000-5")) == (123, "1700000000000-5")
    for bad in ("", "x.1-0", "12", "12.", "12.a b", "12.' OR 1=1"):
        with pytest.raises(QueryError, match="cursor"):
            parse_cursor(bad)
