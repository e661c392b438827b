"""One ACME certificate order with HTTP-01 (RFC 8555), through certbot's ``acme`` library.

The edge between Platform Control and an ACME CA: an account key kept 0600 in the data
directory, a fresh P-256 key and CSR per certificate, the HTTP-01 answers handed to
``publish`` before the CA is asked to validate (Platform Control puts them where the router
reads them, pki/challenges.py) and to ``withdraw`` afterwards, whatever happened.
Every failure is an ``AcmeFailure`` carrying the CA's own error (type and detail) when it
gave one, for the user to read in ``paas certs`` and the app's events.
"""

import datetime
import os
from pathlib import Path

import josepy
import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from paas.pki import authority
from paas.pki import challenges as shared

USER_AGENT = "paas-acme"
NETWORK_TIMEOUT_S = 30


class AcmeFailure(Exception):
    """An order that did not give a certificate; the message is the CA's error where it gave one."""


def account_key(directory: Path | None = None) -> josepy.JWKRSA:
    """The platform's ACME account key, made on first use (RSA 2048: every ACME CA takes it)."""
    directory = directory or authority.ca_dir() / "acme"
    path = directory / "account.key"
    if not path.is_file():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        tmp = directory / f".account-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)   # two first uses at once: the last one wins, both keys were unused
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return josepy.JWKRSA(key=key)


def _client(directory_url: str, verify, email: str) -> client.ClientV2:
    net = client.ClientNetwork(account_key(), user_agent=USER_AGENT, verify_ssl=verify, timeout=NETWORK_TIMEOUT_S)
    acme = client.ClientV2(client.ClientV2.get_directory(directory_url, net), net)
    registration = messages.NewRegistration.from_data(email=email or None, terms_of_service_agreed=True)
    try:
        acme.new_account(registration)
    except errors.ConflictError as existing:
        # The key is registered already: the CA named the account; use it.
        net.account = acme.query_registration(messages.RegistrationResource(uri=existing.location,
                                                                             body=messages.Registration()))
    return acme


def _http01(authorization) -> messages.ChallengeBody:
    for challenge in authorization.body.challenges:
        if isinstance(challenge.chall, challenges.HTTP01):
            return challenge
    raise AcmeFailure(f"the CA offers no http-01 challenge for {authorization.body.identifier.value}")


def order(directory_url: str, hostname: str, publish, withdraw, *, verify=True, email: str = "",
          timeout_s: float = 90) -> tuple[str, str]:
    """A certificate for ``hostname``: (full chain PEM, PKCS#8 key PEM), or AcmeFailure.

    ``publish(token, key_authorization)`` must make the answer servable before it returns;
    ``withdraw(token)`` is called for every published token, also on failure.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    published = []
    try:
        acme = _client(directory_url, verify, email)
        pending = acme.new_order(crypto_util.make_csr(key_pem, [hostname]))
        for authorization in pending.authorizations:
            if authorization.body.status == messages.STATUS_VALID:
                continue   # validated recently for this account: nothing to answer
            challenge = _http01(authorization)
            response, validation = challenge.response_and_validation(acme.net.key)
            token = challenge.chall.encode("token")
            if not shared.valid_token(token) or not shared.valid_key_authorization(token, validation):
                raise AcmeFailure("the CA sent a challenge token the platform does not serve")
            publish(token, validation)
            published.append(token)
            acme.answer_challenge(challenge, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout_s)
        done = acme.poll_and_finalize(pending, deadline)
    except errors.ValidationError as failed:
        raise AcmeFailure(_validation_errors(failed)) from None
    except messages.Error as problem:
        raise AcmeFailure(_problem(problem)) from None
    except errors.TimeoutError:
        raise AcmeFailure(f"the CA did not finish the order within {timeout_s:.0f} s") from None
    except (errors.Error, requests.RequestException, ValueError) as error:
        raise AcmeFailure(f"talking to the ACME CA at {directory_url} failed: {error}") from None
    finally:
        for token in published:
            withdraw(token)
    return done.fullchain_pem, key_pem.decode()


def _problem(problem: messages.Error) -> str:
    kind = (problem.typ or "").rsplit(":", 1)[-1]
    return f"{kind}: {problem.detail}" if kind else str(problem.detail or problem)


def _validation_errors(failed: errors.ValidationError) -> str:
    out = []
    for authorization in failed.failed_authzrs:
        for challenge in authorization.body.challenges:
            if challenge.error is not None:
                out.append(f"{authorization.body.identifier.value}: {_problem(challenge.error)}")
    return "; ".join(out) or "the CA refused the authorization"
