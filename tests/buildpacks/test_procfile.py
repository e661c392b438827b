"""Procfile parsing: what is accepted and the message for each mistake."""

import pytest

from paas.buildpacks.errors import BuildError
from paas.buildpacks.procfile import parse_procfile, read_procfile


def test_types_comments_and_blank_lines():
    text = "# processes\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python w.py  \nrelease_2: ./migrate\n"
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "python w.py",
        "release_2": "./migrate",
    }


def test_colons_in_the_command_stay_in_the_command():
    assert parse_procfile("web: gunicorn app:app\n") == {"web": "gunicorn app:app"}


def test_empty_procfile_declares_nothing():
    assert parse_procfile("\n# nothing yet\n") == {}


@pytest.mark.parametrize("text, message", [
    ("web gunicorn app:app-but-no-colon-before\n", None),
    ("just words\n", r"Procfile line 1: expected 'type: command' \(no ':' found\)"),
    ("web: a\nweb: b\n", r"Procfile line 2: process type 'web' is already declared on line 1"),
    ("we b: a\n", r"Procfile line 1: invalid process type name"),
    (": a\n", r"Procfile line 1: invalid process type name"),
    ("web.1: a\n", r"invalid process type name"),
    ("x" * 64 + ": a\n", r"invalid process type"),
    ("web:\n", r"Procfile line 1: process type 'web' has no command"),
])
def test_mistakes_are_reported_with_their_line(text, message):
    with pytest.raises(BuildError, match=message or "Procfile line 1"):
        parse_procfile(text)


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "Procfile"
    path.write_bytes("\ufeffweb: ./serve\r\nworker: ./work\r\n".encode())
    assert read_procfile(tmp_path) == {"web": "./serve", "worker": "./work"}


def test_missing_procfile_declares_nothing(tmp_path):
    assert read_procfile(tmp_path) == {}
