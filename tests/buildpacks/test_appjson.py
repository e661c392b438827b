"""app.json: the manifest's checks (buildpacks/appjson.py), as plain code."""

import json

import pytest

from paas.buildpacks import appjson
from paas.buildpacks.errors import BuildError


def parse(doc) -> appjson.Manifest:
    return appjson.parse(json.dumps(doc).encode())


def test_a_full_manifest_reads_as_heroku_writes_it():
    m = parse({"name": "x", "addons": ["heroku-postgresql"], "env": {
        "SECRET": {"description": "signing", "generator": "secret"}, "PLAIN": "1",
        "OPTIONAL": {"required": False}}, "formation": {"web": {"quantity": 2, "size": "medium"}},
        "scripts": {"postdeploy": "python manage.py migrate"}, "buildpacks": [{"url": "python"}], "stack": "forky"})
    assert m.env == {"SECRET": appjson.EnvVar(generator="secret"), "PLAIN": appjson.EnvVar(value="1"),
                     "OPTIONAL": appjson.EnvVar(required=False)}
    assert (m.formation, m.postdeploy, m.buildpacks, m.stack) == (
        {"web": {"quantity": 2, "size": "medium"}}, "python manage.py migrate", ["python"], "forky")


@pytest.mark.parametrize("doc, message", [
    ({"env": {"SECRET": {"generator": "uuid"}}}, r"^app\.json: \$\.env\.SECRET\.generator: must be one of: \"secret\"$"),
    ({"env": {"BAD-NAME": "x"}}, r"^app\.json: \$\.env: key 'BAD-NAME' must match \^\[A-Za-z_\]"),
    ({"env": {"A": 3}}, r"^app\.json: \$\.env\.A: must be a string or an object$"),
    ({"formation": {"web": {"quantity": -1}}}, r"^app\.json: \$\.formation\.web\.quantity: must be at least 0$"),
    ({"formation": {"web": {"count": 1}}}, r"^app\.json: \$\.formation\.web: has an unknown key \(known: quantity, size\)$"),
    ({"scripts": {"postdeploy": 7}}, r"^app\.json: \$\.scripts\.postdeploy: must be a string$"),
    ({"buildpacks": [{"url": "python"}, {}]}, r"^app\.json: \$\.buildpacks\[1\]: lacks url$"),
    (["not", "an", "object"], r"^app\.json: \$: must be an object$"),
])
def test_a_bad_manifest_names_the_json_path_and_the_rule(doc, message):
    with pytest.raises(BuildError, match=message):
        parse(doc)


def test_values_are_not_echoed_and_bad_json_names_its_place():
    with pytest.raises(BuildError) as error:
        parse({"env": {"A": {"generator": "s3cret-value"}}})
    assert "s3cret" not in str(error.value)
    with pytest.raises(BuildError, match=r"^app\.json is not valid JSON: line 2 column 1: "):
        appjson.parse(b'{"env":\n}')


def test_a_linked_app_json_is_refused(tmp_path):
    (tmp_path / "app.json").symlink_to("/etc/passwd")
    with pytest.raises(BuildError, match="app.json"):
        appjson.read(str(tmp_path))


def test_no_app_json_is_no_manifest(tmp_path):
    assert appjson.read(str(tmp_path)) is None


def test_a_second_first_push_keeps_what_the_first_set_and_generates_only_what_is_missing():
    from paas.platform.builds.appjson import new_config_vars

    m = parse({"env": {"SECRET": {"generator": "secret"}, "OTHER": {"generator": "secret"}, "PLAIN": "1",
                       "OPTIONAL": {"required": False}}})
    first = new_config_vars(m, {})
    assert sorted(first) == ["OTHER", "PLAIN", "SECRET"] and len(first["SECRET"]) == 64
    assert first["SECRET"] != first["OTHER"] and all(c in "0123456789abcdef" for c in first["SECRET"])
    again = new_config_vars(m, {"SECRET": first["SECRET"], "PLAIN": "changed by the user"})
    assert sorted(again) == ["OTHER"]
