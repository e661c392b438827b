"""The host's trust and network settings reach builds on a Debian stack.

The test makes its own CA and an intercepting TLS proxy (tlsproxy.py) in a network namespace
of its own ("the outside", tests/netsandbox.py): the build's pip reaches its index only through
HTTPS_PROXY, and the proxy answers with a certificate of that CA. With the CA given to the
platform (PAAS_TRUSTED_CA_FILE) the build installs from it; without it, the handshake fails.
"""

import base64
import hashlib
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from paas.buildpacks.driver import build
from paas.buildpacks.errors import BuildError
from tests.waiting import wait_for

INDEX_HOST = "pypi.example.test"
PROXY_PORT = 3128


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_leaf(where: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf certificate for INDEX_HOST, leaf key)."""
    where.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=paas test intercepting CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=where)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
             "-subj", f"/CN={INDEX_HOST}", cwd=where)
    (where / "leaf.ext").write_text(
        f"subjectAltName=DNS:{INDEX_HOST}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "leaf.crt", "-days", "2", "-extfile", "leaf.ext", cwd=where)
    return where / "ca.crt", where / "leaf.crt", where / "leaf.key"


def make_index(root: Path) -> None:
    """A one-package simple index: paas-probe 1.0, a wheel made here."""
    files = {"paas_probe/__init__.py": "VALUE = 'through the proxy'\n",
             "paas_probe-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: paas-probe\nVersion: 1.0\n",
             "paas_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                               "Tag: py3-none-any\n"}
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("paas_probe-1.0.dist-info/RECORD,,")
    wheel = root / "files" / "paas_probe-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr("paas_probe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = root / "simple" / "paas-probe" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<a href="../../files/{wheel.name}#sha256={sha}">{wheel.name}</a>\n')


@pytest.fixture
def intercepting_proxy(tmp_path, outside):
    """(CA certificate, proxy URL, CONNECT log) of a TLS-intercepting proxy in the outside namespace."""
    ca, leaf, key = make_ca_and_leaf(tmp_path / "pki")
    root = tmp_path / "registry"
    make_index(root)
    log = tmp_path / "connects.log"
    log.touch()
    proc = subprocess.Popen(outside.host.argv(sys.executable, str(Path(__file__).with_name("tlsproxy.py")),
                                              str(PROXY_PORT), str(leaf), str(key), str(root), str(log)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from tests.netsandbox import probe_on_host

        wait_for(lambda: probe_on_host(f"tcp:{outside.address}:{PROXY_PORT}")[0].endswith("connected"),
                 what="the intercepting proxy")
        yield ca, f"http://{outside.address}:{PROXY_PORT}", log
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def trust_sandbox(sandbox, outside, tmp_path):
    """The sandbox bridge, egress to the outside allowed, and a trust bundle of this test's own."""
    from paas.runtime import config, trust

    mp, _ = sandbox
    mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
    mp.setattr(trust, "trust_dir", lambda: tmp_path / "trust")
    return mp


def _build_probe_app(tmp_path, stack: str, proxy_url: str, lines: list, name: str):
    from paas.buildpacks.containerexec import ContainerExecutor

    src = tmp_path / f"src-{name}"
    src.mkdir()
    (src / "requirements.txt").write_text("paas-probe==1.0\n")
    work, cache = tmp_path / f"work-{name}", tmp_path / f"cache-{name}"
    work.mkdir()
    cache.mkdir()
    executor = ContainerExecutor(stack=stack, name=f"tr{name}", build_dirs=(str(work), str(cache)))
    # The host's settings: only the allow-listed ones may reach the build.
    host_env = {"HTTPS_PROXY": proxy_url, "PIP_INDEX_URL": f"https://{INDEX_HOST}/simple/", "PIP_RETRIES": "0",
                "DATABASE_URL": "postgres://platform-secret@127.0.0.1/paas"}
    return build(str(src), str(cache), str(tmp_path / f"slug-{name}.tgz"), executor=executor, stack=stack,
                 work_dir=str(work), host_env=host_env, on_output=lines.append, compile_timeout=300)


def test_a_debian_build_fetches_through_an_intercepting_proxy_the_host_trusts(
        forky_stack, trust_sandbox, intercepting_proxy, tmp_path):
    ca, proxy_url, log = intercepting_proxy
    trust_sandbox.setenv("PAAS_TRUSTED_CA_FILE", str(ca))
    lines: list[str] = []
    slug = _build_probe_app(tmp_path, forky_stack, proxy_url, lines, "ok")
    assert f"{INDEX_HOST}:443" in log.read_text().split()
    with tarfile.open(slug.path) as tar:
        init = tar.extractfile("./.paas/python/paas_probe/__init__.py")
        assert init is not None and b"through the proxy" in init.read()


def test_without_the_ca_the_same_build_fails_its_handshake(forky_stack, trust_sandbox, intercepting_proxy, tmp_path):
    _, proxy_url, log = intercepting_proxy
    trust_sandbox.delenv("PAAS_TRUSTED_CA_FILE", raising=False)
    lines: list[str] = []
    with pytest.raises(BuildError, match="could not install dependencies"):
        _build_probe_app(tmp_path, forky_stack, proxy_url, lines, "no")
    assert f"{INDEX_HOST}:443" in log.read_text().split()
    assert "CERTIFICATE_VERIFY_FAILED" in "\n".join(lines)


def test_a_bad_trusted_ca_file_fails_the_build_naming_it(forky_stack, trust_sandbox, tmp_path):
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello\n")
    trust_sandbox.setenv("PAAS_TRUSTED_CA_FILE", str(bad))
    with pytest.raises(BuildError, match="PAAS_TRUSTED_CA_FILE .*not-a-ca.pem holds no PEM certificate"):
        _build_probe_app(tmp_path, forky_stack, "http://192.0.2.1:1", [], "bad")


def test_an_instance_on_the_stack_trusts_the_ca_too(forky_stack, trust_sandbox, intercepting_proxy):
    """Run time as build time: an app's own HTTPS client (Python's default context, the system
    bundle) reaches the registry through the proxy."""
    import uuid

    from paas.runtime import container, stacks
    from paas.runtime.spec import ContainerSpec

    ca, proxy_url, _ = intercepting_proxy
    trust_sandbox.setenv("PAAS_TRUSTED_CA_FILE", str(ca))
    stack = stacks.get(forky_stack)
    fetch = (f"import urllib.request; print(urllib.request.urlopen('https://{INDEX_HOST}/simple/paas-probe/', "
             "timeout=20).status)")
    spec = ContainerSpec(command=("python3", "-c", fetch), layers=stack.layers, binds=stack.binds, network="bridge",
                         user="app", env=(("HTTPS_PROXY", proxy_url), ("PATH", "/usr/bin:/bin")),
                         id=f"tri{uuid.uuid4().hex[:10]}", stop_grace=1.0)
    c = container.create(spec)
    try:
        helper = c.start(detach=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = helper.communicate(timeout=120)
        c.mark_stopped(helper_code=helper.returncode)
    finally:
        container.release(spec.id)
    assert out.decode(errors="replace").strip().splitlines()[-1] == "200", out
