import pytest

from paas.platform.exceptions import Invalid
from paas.platform.names import (
    check_app_name,
    check_env_key,
    check_hostname,
    check_instance_name,
    check_process_type,
    check_text,
)


@pytest.mark.parametrize("name", ["demo", "my-app-2", "abc", "a" * 30, "x1y"])
def test_valid_app_names(name):
    assert check_app_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "a/b", "-rf", "Demo", "UPPER", "ab", "a" * 31, "a" * 64, "app-", "1app", "my--app", "my_app",
     "café", "app\u0661\u0662", "app\u0663", "app.name", "app name", " app", "app\n", None, 42, "api", "admin", "offsets"],
)
def test_invalid_app_names_are_refused_with_a_message(name):
    with pytest.raises(Invalid) as error:
        check_app_name(name)
    assert error.value.message


@pytest.mark.parametrize("key", ["A", "DATABASE_URL", "_x", "a1"])
def test_valid_env_keys(key):
    assert check_env_key(key) == key


@pytest.mark.parametrize("key", ["", "1A", "A-B", "A B", "A=B", "É", "A\u0661", None])
def test_invalid_env_keys(key):
    with pytest.raises(Invalid):
        check_env_key(key)


def test_hostnames_are_normalised_and_checked():
    assert check_hostname("WWW.Example.com.") == "www.example.com"
    assert check_hostname("Bücher.Example") == "xn--bcher-kva.example"
    assert check_hostname("xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert check_hostname("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 48) == (
        "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 48)  # 240: _paas-verify.<it> is 253
    for bad in ["example", "-a.com", "a..com", "a_b.com", "1.2.3.4", "x" * 64 + ".com", "", " ", "*.example.com",
                "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 49, "x" * 100_000 + ".com",
                "a\x00b.com", "a\ud800.com", "xn--zz.example", "a b.com", 7, None]:
        with pytest.raises(Invalid):
            check_hostname(bad)


def test_process_types():
    assert check_process_type("web") == "web"
    for bad in ["Web", "", "1web", "a" * 31, "we b"]:
        with pytest.raises(Invalid):
            check_process_type(bad)



@pytest.mark.parametrize("value,multiline,problem", [
    ("a\0b", True, "NUL"),
    ("\ud800", True, "lone surrogate"),
    ("x\udfff", False, "lone surrogate"),
    ("\x1b[2J", True, "U+001B"),
    ("\x7f", True, "U+007F"),
    ("\x85", True, "U+0085"),  # C1 controls too
    ("line\nbreak", False, "U+000A"),
    ("tab\there", False, "U+0009"),
])
def test_check_text_refuses_what_cannot_be_text_without_echoing_it(value, multiline, problem):
    with pytest.raises(Invalid) as caught:
        check_text(value, "the field", multiline=multiline)
    assert problem in caught.value.message and "the field" in caught.value.message
    assert value not in caught.value.message


@pytest.mark.parametrize("value", ["plain", "", "é€😀 ١٢٣", "-----BEGIN-----\r\nAA\tBB\n", "\u2028"])
def test_check_text_accepts_text(value):
    assert check_text(value, "v", multiline=True) == value


def test_check_text_length_and_type():
    with pytest.raises(Invalid, match="at most 3"):
        check_text("abcd", "v", max_length=3)
    with pytest.raises(Invalid, match="must be a string"):
        check_text(5, "v")


@pytest.mark.parametrize("body,depth", [
    (b"{}", 1),
    (b'{"a": [[1], {"b": []}]}', 4),
    (b'{"a": "[[[[{{{{"}', 1),  # brackets in strings do not nest
    (b'{"a": "\\"[[[", "b": [1]}', 2),  # an escaped quote does not end the string
    (b'{"a": "\\\\", "b": [[1]]}', 3),  # an escaped backslash does not escape the quote after it
    (b"[" * 100_000 + b"]" * 100_000, 33),  # counting stops past the limit
    (b"not json ]]]", 0),
])
def test_nesting_depth(body, depth):
    from paas.platform.api.body import nesting_depth

    assert nesting_depth(body, 32) == depth


def test_instance_names():
    assert check_instance_name("demo-run-3-120102") == "demo-run-3-120102"
    for bad in ("", "a\0", "Demo", "a/b", "a" * 101, "-x"):
        with pytest.raises(Invalid):
            check_instance_name(bad)
