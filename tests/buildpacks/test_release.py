"""bin/release YAML: accepted shapes and rejected ones."""

import pytest

from paas.buildpacks.errors import BuildError
from paas.buildpacks.release import parse_release


def test_full_release_output():
    info = parse_release(
        "---\naddons:\n  - heroku-postgresql:hobby-dev\nconfig_vars:\n  PATH: /app/bin:/usr/bin\n  WORKERS: 2\n"
        "default_process_types:\n  web: npm start\n",
        "nodejs",
    )
    assert info.default_process_types == {"web": "npm start"}
    assert info.config_vars == {"PATH": "/app/bin:/usr/bin", "WORKERS": "2"}
    assert info.addons == ["heroku-postgresql:hobby-dev"]


@pytest.mark.parametrize("text", ["", "---\n", "--- {}\n", "---\ndefault_process_types:\n"])
def test_empty_release_output_means_no_defaults(text):
    info = parse_release(text, "bp")
    assert (info.default_process_types, info.config_vars, info.addons) == ({}, {}, [])


@pytest.mark.parametrize("text, message", [
    ("default_process_types: [web\n", "bp bin/release printed invalid YAML"),
    ("- web\n", "must print a YAML mapping"),
    ("default_process_types: [web]\n", "default_process_types must be a mapping"),
    ("default_process_types:\n  web: [a, b]\n", "entry 'web' must map a name to a string"),
    ("addons: heroku-redis\n", "addons must be a list of names"),
])
def test_malformed_release_output(text, message):
    with pytest.raises(BuildError, match=message):
        parse_release(text, "bp")
