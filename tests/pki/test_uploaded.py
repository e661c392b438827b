"""Uploaded certificates: what is accepted, and a clear message for each bad input."""

import pytest

from paas.pki.uploaded import CertificateError, covers, read_upload
from tests.pki.certmaker import chain, key_pem, make, pem


def test_a_leaf_with_its_intermediate_is_accepted_and_ordered_leaf_first():
    root, middle, (leaf, key) = chain()
    # Out of order in the file, with the root: the chain is the leaf then its issuers.
    upload = read_upload(pem(middle[0]) + pem(leaf) + pem(root[0]), key_pem(key))
    assert upload.names == ("www.example.com",)
    assert upload.chain_pem == pem(leaf) + pem(middle[0]) + pem(root[0])
    assert upload.key_pem.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("case, message", [
    ("garbage", "CERT is not a PEM certificate"),
    ("empty", "CERT is empty"),
    ("key_as_cert", "CERT holds a private key"),
    ("cert_as_key", "KEY holds a certificate"),
    ("garbage_key", "KEY is not a PEM private key"),
    ("mismatch", "KEY does not match the certificate"),
    ("expired", "the certificate expired on"),
    ("passphrase", "KEY is protected by a passphrase"),
    ("no_names", "names no DNS host"),
    ("huge", "larger than 64 KiB"),
])
def test_bad_input_gets_a_clear_message(case, message):
    _, _, (leaf, key) = chain()
    other_key = make("x")[1]
    cert_text, key_text = pem(leaf), key_pem(key)
    if case == "garbage":
        cert_text = "hello\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    elif case == "empty":
        cert_text = "  \n"
    elif case == "key_as_cert":
        cert_text, key_text = key_pem(key), pem(leaf)
    elif case == "cert_as_key":
        key_text = pem(leaf)
    elif case == "garbage_key":
        key_text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    elif case == "mismatch":
        key_text = key_pem(other_key)
    elif case == "expired":
        _, _, (leaf, key) = chain(days=-1, start_days=-30)
        cert_text, key_text = pem(leaf), key_pem(key)
    elif case == "passphrase":
        key_text = key_pem(key, b"secret")
    elif case == "no_names":
        leaf, key = make("bare")
        cert_text, key_text = pem(leaf), key_pem(key)
    elif case == "huge":
        cert_text = pem(leaf) + "#" * 70000
    with pytest.raises(CertificateError, match=message) as error:
        read_upload(cert_text, key_text)
    assert "BEGIN" not in str(error.value).replace("-----BEGIN CERTIFICATE-----)", "")


def test_wildcards_cover_one_label():
    assert covers("*.example.com", "www.example.com")
    assert not covers("*.example.com", "a.b.example.com")
    assert not covers("*.example.com", "example.com")
    assert covers("example.com", "example.com")
