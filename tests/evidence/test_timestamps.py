"""Token verification (one check per concern, named reasons) and the tamper cases of issue 3."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.timestamping import timestamps as ts
from evidence.timestamping.timestamps import CheckStatus, Reason
from evidence.timestamping.tsa import (
    LocalTSA,
    MemorySerialAllocator,
    issue_tsa_certificate,
    make_root_certificate,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def memory_tsa(
    org: str = "Test Coalition",
    *,
    not_before: dt.datetime = NOW - DAY,
    not_after: dt.datetime = NOW + 365 * DAY,
    clock=None,
    root: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
) -> LocalTSA:
    """A TSA with in-memory keys; its TSA certificate's validity is what the test says."""
    if root is None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = (
            root_key,
            make_root_certificate(
                root_key, org, not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY
            ),
        )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_tsa_certificate(
        root[0], root[1], key.public_key(), org, not_before=not_before, not_after=not_after
    )
    kw = {} if clock is None else {"clock": clock}
    return LocalTSA(
        private_key=key,
        certificate=cert,
        root_certificate=root[1],
        serials=MemorySerialAllocator(),
        **kw,
    )


@pytest.fixture(scope="module")
def tsa() -> LocalTSA:
    return memory_tsa()


def token_for(tsa: LocalTSA, data: bytes, **kw) -> bytes:
    return ts.token_from_response(tsa.timestamp(sha(data), **kw))


def verify(tsa: LocalTSA, token: bytes, data: bytes, **kw) -> ts.TokenReport:
    return ts.verify_token(
        token, expected_digest=sha(data), trusted_roots=[tsa.root_certificate], **kw
    )


def test_a_good_token_passes_every_check(tsa):
    token = token_for(tsa, b"protocol 101", nonce=5)
    report = verify(
        tsa,
        token,
        b"protocol 101",
        expected_nonce=5,
        recorded_at=NOW + DAY,
        expected_policy=tsa.policy_oid,
        requested_at=NOW,
    )
    assert report.ok and report.reasons == ()
    assert [c.id for c in report.checks] == [
        "well_formed",
        "imprint",
        "nonce",
        "policy",
        "signer_certificate",
        "signature",
        "chain",
        "eku",
        "cert_validity",
        "recorded_time",
        "request_time",
        "rfc3161_client",
    ]
    assert all(c.status is CheckStatus.PASSED for c in report.checks)
    assert report.info is not None and report.info.imprint == sha(b"protocol 101")


def test_bare_token_and_response_convert_both_ways(tsa):
    response = tsa.timestamp(sha(b"a"), nonce=1)
    token = ts.token_from_response(response)
    assert token != response
    assert ts.token_from_response(ts.response_from_token(token)) == token
    assert ts.read_token(token) == ts.read_token(response)
    # read_token (rfc3161-client's parser) and verify_token (asn1crypto) read the same fields
    assert ts.read_token(token) == verify(tsa, token, b"a").info
    assert verify(tsa, ts.response_from_token(token), b"a").ok


def test_read_token_gives_time_serial_tsa_and_imprint(tsa):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    info = ts.read_token(token_for(tsa, b"read me"))
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert info.imprint == sha(b"read me") and info.hash_name == "sha256"
    # the token's time is the time it was asked for (not the time the test module was loaded:
    # on a loaded machine that can be minutes earlier)
    assert info.serial >= 1 and before <= info.gen_time <= after
    assert info.tsa_name and "Test Coalition" in info.tsa_name


def test_a_flipped_byte_anywhere_is_detected(tsa):
    token = token_for(tsa, b"stored item")
    seen: set[Reason] = set()
    for i in range(len(token)):
        flipped = bytearray(token)
        flipped[i] ^= 0x01
        report = verify(tsa, bytes(flipped), b"stored item")
        assert not report.ok, f"flip at byte {i} not detected"
        assert report.reasons
        seen.update(report.reasons)
    assert {Reason.MALFORMED, Reason.SIGNATURE_INVALID, Reason.IMPRINT_MISMATCH} <= seen


def test_a_flipped_byte_in_the_signed_time_is_a_signature_failure(tsa):
    token = token_for(tsa, b"stored item")
    gen_time = ts.read_token(token).gen_time.strftime("%Y%m%d%H%M%SZ").encode()
    at = token.index(gen_time) + 3  # a digit of the year
    flipped = token[:at] + bytes([token[at] ^ 0x01]) + token[at + 1 :]
    report = verify(tsa, flipped, b"stored item")
    assert report.check("signature").reason is Reason.SIGNATURE_INVALID
    assert report.check("imprint").status is CheckStatus.PASSED


def test_tokens_swapped_between_two_items_are_named(tsa):
    token_a, token_b = token_for(tsa, b"item A"), token_for(tsa, b"item B")
    for token, data in ((token_a, b"item B"), (token_b, b"item A")):
        report = verify(tsa, token, data)
        assert not report.ok
        assert report.check("imprint").reason is Reason.IMPRINT_MISMATCH
        assert report.check("signature").status is CheckStatus.PASSED


def test_a_token_from_a_tsa_nobody_trusts(tsa):
    rogue = memory_tsa("Rogue")
    report = verify(tsa, token_for(rogue, b"x"), b"x")
    assert report.reasons == (Reason.TSA_UNTRUSTED,)
    assert report.check("signature").status is CheckStatus.PASSED


def test_a_token_whose_time_is_outside_the_tsa_certificate(tsa):
    expired = memory_tsa(not_before=NOW - 900 * DAY, not_after=NOW - 500 * DAY)
    report = verify(expired, token_for(expired, b"x"), b"x")
    assert report.reasons == (Reason.TIME_OUTSIDE_CERT_VALIDITY,)
    early = memory_tsa(not_before=NOW + 10 * DAY, not_after=NOW + 500 * DAY)
    assert verify(early, token_for(early, b"x"), b"x").reasons == (
        Reason.TIME_OUTSIDE_CERT_VALIDITY,
    )


def test_token_time_after_the_custody_record_beyond_tolerance():
    late = memory_tsa(clock=lambda: NOW + dt.timedelta(hours=2))
    token = token_for(late, b"x")
    recorded = NOW
    report = verify(late, token, b"x", recorded_at=recorded)
    assert report.reasons == (Reason.TIME_AFTER_RECORD,)
    within = verify(
        late, token, b"x", recorded_at=recorded, tolerance=dt.timedelta(hours=2, minutes=1)
    )
    assert within.ok
    assert verify(late, token, b"x").check("recorded_time").status is CheckStatus.SKIPPED


def test_a_tsa_certificate_without_the_timestamping_eku():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_certificate(root_key, "Org", not_before=NOW - DAY, not_after=NOW + DAY * 9)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=no eku"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    plain = LocalTSA(
        private_key=key, certificate=cert, root_certificate=root, serials=MemorySerialAllocator()
    )
    report = verify(plain, token_for(plain, b"x"), b"x")
    assert report.reasons == (Reason.EKU_MISSING,)


def test_a_token_without_certificates_needs_the_tsa_certificate(tsa):
    token = token_for(tsa, b"x", cert_req=False)
    report = verify(tsa, token, b"x")
    assert report.check("signer_certificate").reason is Reason.SIGNER_CERT_MISSING
    assert report.check("chain").status is CheckStatus.INDETERMINATE
    assert verify(tsa, token, b"x", certificates=[tsa.certificate]).ok


def test_a_substituted_certificate_with_the_same_issuer_and_serial():
    """The token is given a certificate that has the signer's issuer and serial number but
    another key: the ESS attribute and the signature both refuse it."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_root_certificate(root_key, "Org", not_before=NOW - DAY, not_after=NOW + 9 * DAY)
    honest = memory_tsa(root=(root_key, root))
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = (
        x509.CertificateBuilder()
        .subject_name(honest.certificate.subject)
        .issuer_name(root.subject)
        .public_key(impostor_key.public_key())
        .serial_number(honest.certificate.serial_number)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(
            honest.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value,
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    token = token_for(honest, b"x", cert_req=False)
    report = verify(honest, token, b"x", certificates=[impostor])
    assert report.check("signer_certificate").reason is Reason.SIGNER_CERT_MISMATCH
    assert report.check("signature").reason is Reason.SIGNATURE_INVALID
    assert verify(honest, token, b"x", certificates=[honest.certificate]).ok


def test_nonce_and_policy_are_checked_when_asked(tsa):
    token = token_for(tsa, b"x", nonce=10)
    assert verify(tsa, token, b"x", expected_nonce=11).reasons == (Reason.NONCE_MISMATCH,)
    assert verify(tsa, token, b"x", expected_policy="1.2.3").reasons == (Reason.POLICY_MISMATCH,)


def test_garbage_is_malformed_and_verify_or_raise_carries_the_report(tsa):
    for junk in (b"", b"not a token", b"\x30\x80\x00\x00"):
        report = verify(tsa, junk, b"x")
        assert report.reasons == (Reason.MALFORMED,) and report.info is None
        with pytest.raises(ts.MalformedTokenError):
            ts.read_token(junk)
    with pytest.raises(ts.TokenVerificationError) as err:
        ts.verify_or_raise(
            token_for(tsa, b"a"), expected_digest=sha(b"b"), trusted_roots=[tsa.root_certificate]
        )
    assert err.value.exit_code == 1
    assert err.value.report.reasons == (Reason.IMPRINT_MISMATCH,)
    info = ts.verify_or_raise(
        token_for(tsa, b"a"), expected_digest=sha(b"a"), trusted_roots=[tsa.root_certificate]
    )
    assert info.imprint == sha(b"a")
