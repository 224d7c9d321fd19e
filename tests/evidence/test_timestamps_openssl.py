"""Interoperability: tokens made by another TSA implementation (``openssl ts -reply``, RSA
keys, ESS signing-certificate v1 or v2) are verified by ``verify_token`` like ours."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from evidence.timestamping import timestamps as ts
from evidence.timestamping.timestamps import CheckStatus, Reason
from testing.tsa_server import LoopbackTSA

CONFIG = """
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
[tsa_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {dir}/serial
signer_cert = {dir}/{cert}
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = {ess}
certs = {dir}/{cert}
"""


def run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def openssl_ca(tmp_path_factory) -> Path:
    """An RSA root and an RSA TSA certificate, made by openssl."""
    d = tmp_path_factory.mktemp("openssl-tsa")
    (d / "serial").write_text("1000\n")
    (d / "ext.cnf").write_text(CONFIG.format(dir=d, cert="tsa.pem", ess="sha256"))
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-subj",
        "/CN=OpenSSL Test Root",
        "-days",
        "30",
        "-out",
        "root.pem",
        "-extensions",
        "ca_ext",
        "-config",
        "ext.cnf",
        cwd=d,
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tsa.key",
        "-subj",
        "/CN=OpenSSL Test TSA",
        "-out",
        "tsa.csr",
        cwd=d,
    )
    run(
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-days",
        "10",
        "-out",
        "tsa.pem",
        "-extfile",
        "ext.cnf",
        "-extensions",
        "tsa_ext",
        cwd=d,
    )
    return d


def openssl_reply(d: Path, digest: bytes, *, nonce: int, ess: str = "sha256") -> bytes:
    (d / "reply.cnf").write_text(CONFIG.format(dir=d, cert="tsa.pem", ess=ess))
    (d / "q.tsq").write_bytes(ts.build_request(digest, nonce=nonce))
    run("ts", "-reply", "-queryfile", "q.tsq", "-config", "reply.cnf", "-out", "r.tsr", cwd=d)
    return (d / "r.tsr").read_bytes()


def root(d: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((d / "root.pem").read_bytes())


@pytest.mark.parametrize("ess", ["sha256", "sha1"])
def test_openssl_tokens_verify(openssl_ca, ess):
    digest = hashlib.sha256(b"photo").digest()
    response = openssl_reply(openssl_ca, digest, nonce=31337, ess=ess)
    report = ts.verify_response(
        response, expected_digest=digest, expected_nonce=31337, trusted_roots=[root(openssl_ca)]
    )
    assert report.ok, report.checks
    assert report.check("rfc3161_client").status is CheckStatus.PASSED
    assert report.info is not None and report.info.policy == "1.2.3.4.1"
    assert report.info.tsa_name is None or "OpenSSL" in report.info.tsa_name
    assert ts.read_token(response) == report.info


def test_openssl_tokens_refused_for_the_wrong_item_or_root(openssl_ca):
    digest = hashlib.sha256(b"photo").digest()
    token = ts.token_from_response(openssl_reply(openssl_ca, digest, nonce=1))
    other = ts.verify_token(
        token, expected_digest=hashlib.sha256(b"other").digest(), trusted_roots=[root(openssl_ca)]
    )
    assert other.reasons == (Reason.IMPRINT_MISMATCH,)
    stranger = LoopbackTSA()  # never started: only its root is used
    stranger.stop()
    untrusted = ts.verify_token(
        token, expected_digest=digest, trusted_roots=[stranger.root_certificate]
    )
    assert untrusted.reasons == (Reason.TSA_UNTRUSTED,)
