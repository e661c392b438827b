"""An add-on server's TLS certificate, from the platform's CA (pki/): what every provider's TLS serves.

Issued for the address apps connect to (the host's gateway), so clients that verify
(sslmode=verify-ca, rediss:// with the CA) connect as well as those that only demand TLS.
"""


def server_credentials(name: str, address: str) -> dict:
    from paas.pki import authority as pki

    cert, key = pki.issue(name, addresses=[address])
    return {"tls_cert": cert, "tls_key": key}
