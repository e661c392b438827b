import pytest

from paas.platform.exceptions import Invalid
from paas.platform.names import check_app_name, check_env_key, check_hostname, check_process_type


@pytest.mark.parametrize("name", ["demo", "my-app-2", "abc", "a" * 30, "x1y"])
def test_valid_app_names(name):
    assert check_app_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "a/b", "-rf", "Demo", "UPPER", "ab", "a" * 31, "a" * 64, "app-", "1app", "my--app", "my_app",
     "café", "app\u0661\u0662", "app\u0663", "app.name", "app name", " app", "app\n", None, 42, "api", "admin"],
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

