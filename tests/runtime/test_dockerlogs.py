"""Copying the engine's output into an instance's log files: each line once, whatever stops the agent."""

from paas.runtime.dockerlogs import fresh_lines, lines_after

OUTPUT = (b"2026-12-07T02:00:00.000000001Z first\n"
          b"2026-12-07T02:00:00.500000000Z second\n"
          b"2026-12-07T02:00:01.000000000Z third\n")


def test_only_lines_stamped_after_the_last_copied_are_new():
    assert fresh_lines(OUTPUT, "") == ([b"first\n", b"second\n", b"third\n"], "2026-12-07T02:00:01.000000000Z")
    # The engine is asked from the whole second before: what was copied of it is skipped by stamp.
    assert fresh_lines(OUTPUT, "2026-12-07T02:00:00.500000000Z") == ([b"third\n"], "2026-12-07T02:00:01.000000000Z")
    assert fresh_lines(b"", "2026-12-07T02:00:01.000000000Z") == ([], "2026-12-07T02:00:01.000000000Z")


def test_lines_appended_before_a_crash_are_not_appended_again():
    lines = [b"first\n", b"second\n", b"third\n"]
    assert lines_after(list(lines), 0) == lines
    assert lines_after(list(lines), len(b"first\nsecond\n")) == [b"third\n"]
    assert lines_after(list(lines), 100) == []
