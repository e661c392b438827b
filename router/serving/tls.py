"""TLS termination: the server context, its certificates, SNI, reloads.

One ``ssl.SSLContext`` per worker serves every TLS connection: TLS 1.2 and 1.3 with
forward-secret AEAD ciphers only, ALPN ``http/1.1``, session tickets (OpenSSL's
default, rotated per context) for resumption. Its certificate is the operator's
(``PAAS_ROUTER_TLS_CERT``/``_KEY``) or a wildcard for ``*.<base-domain>`` issued by
the platform CA (paas.pki) at first start and re-issued 30 days before it expires.

SNI decides, before any certificate is sent, whether this router may answer: no SNI
gets the default certificate; a name the certificate does not cover gets the
``unrecognized_name`` alert, never some other certificate. A base domain of one label
(``localhost``) cannot have a wildcard (OpenSSL and browsers refuse ``*.localhost``),
so there each app host gets its own leaf from the platform CA, issued on its first
handshake and only for an app the route table knows.

Uploaded certificates (``paas certs:add``) come from Redis (contracts: ``tls:certs``, a
hash hostname -> chain and key that only Platform Control and the router can read) and are
served by exact SNI match, before the platform's own names are considered.

Certificates are reloaded when their files change (checked every ``RELOAD_S``) into a
new context that the SNI callback hands to new handshakes; open connections keep theirs,
and session tickets (the listening context's) stay valid.
"""

import ipaddress
import json
import logging
import os
import ssl
import tempfile
from pathlib import Path

from paas.pki import authority

log = logging.getLogger("paas.router")

RELOAD_S = 5.0   # certificate files and uploaded certificates checked this often
# Forward secrecy and AEAD only (TLS 1.2); TLS 1.3's suites are all of that kind.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def covered(name: str, base: str) -> bool:
    """Whether ``*.<base>`` (and ``<base>``) covers ``name``: one label more, as RFC 6125 wildcards go."""
    if name == base:
        return True
    label, dot, rest = name.partition(".")
    return bool(dot) and rest == base and bool(label)


def new_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


class Certificates:
    """The worker's TLS context and what goes in it; ``known_app(name)`` says whether a host is routed."""

    def __init__(self, base_domain: str, cert_file: str = "", key_file: str = "", known_app=None,
                 directory: Path | None = None):
        self.base = base_domain
        self.known_app = known_app or (lambda host: False)
        self.directory = directory or authority.ca_dir() / "router"
        # An operator's certificate is served as given; only the issued one is made per host.
        self.single_label = not cert_file and "." not in base_domain
        self._operator = bool(cert_file)
        if cert_file:
            self.cert_file, self.key_file = Path(cert_file), Path(key_file or cert_file)
        else:
            self.cert_file, self.key_file = self._issued(f"*.{base_domain}", [base_domain])
        self._stamp = None
        self._per_host: dict[str, ssl.SSLContext] = {}
        # Uploaded certificates (contracts: tls:certs): hostname -> context, and the raw values loaded.
        self.uploaded: dict[str, ssl.SSLContext] = {}
        self._uploaded_raw: dict[str, bytes] = {}
        self.current: ssl.SSLContext | None = None
        self._addresses: dict[str, bool] = {}   # SNI name -> whether it is an IP address
        self.reload()
        # The listening context: every handshake starts here and its SNI callback (called with
        # None when the client sends no name) moves it to the current certificate's context.
        # Session tickets stay this context's, so they survive reloads.
        self.context = self._load(self.cert_file, self.key_file)
        self.context.sni_callback = self._sni

    def _issued(self, name: str, names: list[str]) -> tuple[Path, Path]:
        return authority.ensure_server_files(self.directory, name, names)

    def _files_stamp(self):
        return tuple((os.stat(p).st_mtime_ns, os.stat(p).st_ino) for p in (self.cert_file, self.key_file))

    def reload(self) -> bool:
        """Load the certificate again if its files changed (or renew the issued one); True if loaded."""
        if not self._operator:
            self._issued(f"*.{self.base}", [self.base])
        stamp = self._files_stamp()
        self._per_host = {}   # reloaded (renewed when due) on their next handshake
        if stamp == self._stamp:
            return False
        try:
            # A new context, swapped in only once whole: a certificate without its key (files
            # caught mid-replacement, a wrong key) never replaces a working one.
            loaded = self._load(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            if self.current is None:
                raise
            log.error("TLS certificate %s not reloaded, the previous one stays: %s", self.cert_file, error)
            return False
        self.current, self._stamp = loaded, stamp
        return True

    @staticmethod
    def _load(cert_file, key_file) -> ssl.SSLContext:
        ctx = new_context()
        ctx.load_cert_chain(cert_file, key_file)
        return ctx

    def _sni(self, sslobj, name, ctx):
        if name is None or self._is_address(name):
            # RFC 6066 allows host names only, yet some clients (wrk, old libraries) send the
            # address they connected to: that is as good as no name.
            sslobj.context = self.current
            return None
        name = name.lower().rstrip(".")
        upload = self.uploaded.get(name)
        if upload is not None:
            sslobj.context = upload
            return None
        if not covered(name, self.base):
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if self.single_label and name != self.base:
            if not self.known_app(name):
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            sslobj.context = self._host_context(name)
        else:
            sslobj.context = self.current
        return None

    def _is_address(self, name: str) -> bool:
        """``_is_address``, remembered per name: the same few names come on every handshake, and
        parsing one that is not an address raises twice (~10 µs, ~5 for an address)."""
        known = self._addresses.get(name)
        if known is None:
            if len(self._addresses) >= 4096:
                self._addresses.clear()
            known = self._addresses[name] = _is_address(name)
        return known

    def _host_context(self, name: str) -> ssl.SSLContext:
        ctx = self._per_host.get(name)
        if ctx is None:
            # Issued (a P-256 key and a signature: about a millisecond) on the first handshake for
            # this host, then files on disk; the loop waits that long once per host and process.
            ctx = self._per_host[name] = self._load(*self._issued(name, []))
        return ctx

    def set_uploaded(self, raw: dict) -> int:
        """Serve the uploaded certificates ``raw`` (``tls:certs``: hostname -> JSON {"chain", "key"});
        how many changed. One that does not load is logged and its previous context kept."""
        fresh = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
        contexts = {h: c for h, c in self.uploaded.items() if h in fresh}
        changed = len(self.uploaded) - len(contexts)
        for host, value in fresh.items():
            if self._uploaded_raw.get(host) == value:
                continue
            try:
                contexts[host] = _context_from_pem(value)
            except (ValueError, KeyError, TypeError, OSError, ssl.SSLError) as error:
                log.error("uploaded certificate for %s not loaded: %s", host, error)
                fresh[host] = self._uploaded_raw.get(host)
                continue
            changed += 1
        self.uploaded = contexts
        self._uploaded_raw = {h: v for h, v in fresh.items() if v is not None}
        return changed


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _context_from_pem(value: bytes) -> ssl.SSLContext:
    """A server context from JSON {"chain", "key"}: ``load_cert_chain`` reads files only, so they
    exist for the moment of the call, 0600 in a 0700 directory of this process's own."""
    entry = json.loads(value)
    chain, key = entry["chain"], entry["key"]
    if not isinstance(chain, str) or not isinstance(key, str):
        raise ValueError("chain and key must be PEM text")
    ctx = new_context()
    with tempfile.TemporaryDirectory(prefix="paas-router-cert-") as directory:
        files = []
        for name, text in (("chain.pem", chain), ("key.pem", key)):
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            files.append(path)
        ctx.load_cert_chain(*files)
    return ctx
