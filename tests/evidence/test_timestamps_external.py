"""External TSAs over real HTTP on loopback: the first good answer wins, every bad one is
refused with a named reason and the local TSA takes over."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

from evidence.timestamping import timestamps as ts
from evidence.timestamping.timestamps import Reason
from evidence.timestamping.tsa import LocalTSA, create_local_tsa
from testing.tsa_server import LoopbackTSA, Mode, down_url

#: Timeout for TSAs expected to answer (generous: the test machine may be busy).
TIMEOUT = 20.0
#: Timeout for the slow TSA, which answers only after SLOW_SECONDS.
SHORT = 0.5
SLOW_SECONDS = 6.0


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> ts.LocalSource:
    base = tmp_path_factory.mktemp("store")
    create_local_tsa(base / "keys", base / "public", base / "state", "Test Coalition")
    return ts.LocalSource(LocalTSA.load(base / "keys", base / "public", base / "state"))


@pytest.fixture(scope="module")
def server():
    with LoopbackTSA(slow_seconds=SLOW_SECONDS) as srv:
        yield srv


@pytest.fixture
def external(server) -> ts.ExternalTSA:
    server.mode = Mode.OK
    return ts.ExternalTSA("loopback", server.url, (server.root_certificate,), timeout=TIMEOUT)


def test_a_good_external_tsa_is_used_first(external, local, server):
    before = server.requests
    result = ts.obtain_timestamp(sha(b"photo"), [external, local])
    assert (result.source, result.kind, result.refused) == ("loopback", "external", ())
    assert server.requests == before + 1
    assert result.report.ok and result.info.imprint == sha(b"photo")
    assert "Loopback TSA" in (result.info.tsa_name or "")
    report = ts.verify_token(
        result.token, expected_digest=sha(b"photo"), trusted_roots=[server.root_certificate]
    )
    assert report.ok
    assert not ts.verify_token(
        result.token, expected_digest=sha(b"photo"), trusted_roots=local.trusted_roots
    ).ok


def test_external_token_passes_openssl(external, local, server, tmp_path):
    result = ts.obtain_timestamp(sha(b"photo"), [external, local])
    (tmp_path / "OUT.tsr").write_bytes(ts.response_from_token(result.token))
    (tmp_path / "root.pem").write_bytes(
        server.root_certificate.public_bytes(serialization.Encoding.PEM)
    )
    run = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            sha(b"photo").hex(),
            "-sha256",
            "-in",
            str(tmp_path / "OUT.tsr"),
            "-CAfile",
            str(tmp_path / "root.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0 and "Verification: OK" in run.stdout, run.stderr


def test_tsa_down_falls_back_to_local_and_records_it(local, server):
    down = ts.ExternalTSA("offline", down_url(), (server.root_certificate,), timeout=TIMEOUT)
    result = ts.obtain_timestamp(sha(b"photo"), [down, local])
    assert (result.source, result.kind) == ("local", "local")
    assert [(a.source, a.reasons) for a in result.refused] == [
        ("offline", (Reason.TSA_UNREACHABLE,))
    ]
    assert ts.verify_token(
        result.token, expected_digest=sha(b"photo"), trusted_roots=local.trusted_roots
    ).ok


@pytest.mark.parametrize(
    "mode, reason",
    [
        (Mode.GARBAGE, Reason.MALFORMED),
        (Mode.OTHER_HASH, Reason.IMPRINT_MISMATCH),
        (Mode.WRONG_NONCE, Reason.NONCE_MISMATCH),
        (Mode.SLOW, Reason.TSA_TIMEOUT),
        (Mode.UNTRUSTED, Reason.TSA_UNTRUSTED),
        (Mode.EXPIRED_CERT, Reason.TIME_OUTSIDE_CERT_VALIDITY),
        (Mode.BACKDATED, Reason.TIME_BEFORE_REQUEST),
        (Mode.HTTP_ERROR, Reason.HTTP_ERROR),
        (Mode.REJECT, Reason.STATUS_NOT_GRANTED),
    ],
)
def test_a_misbehaving_tsa_is_refused_with_its_reason(external, local, server, mode, reason):
    server.mode = mode
    if mode is Mode.SLOW:
        external = dataclasses.replace(external, timeout=SHORT)
    before = server.requests
    started = time.monotonic()
    result = ts.obtain_timestamp(sha(b"photo"), [external, local])
    assert time.monotonic() - started < SLOW_SECONDS - 1  # never waited for a slow answer
    assert server.requests == before + 1  # it was really asked
    assert result.source == "local" and result.token and result.report.ok
    assert len(result.refused) == 1
    refused = result.refused[0]
    assert refused.source == "loopback" and refused.reasons == (reason,), refused
    assert refused.detail
    # never accepted: without the local fallback there is no token at all
    with pytest.raises(ts.TimestampUnavailableError) as err:
        ts.obtain_timestamp(sha(b"photo"), [external])
    assert err.value.exit_code == 4 and err.value.attempts[0].reasons == (reason,)


def test_sources_are_tried_in_order(local, server):
    server.mode = Mode.OK
    down = ts.ExternalTSA("first", down_url(), (server.root_certificate,), timeout=TIMEOUT)
    wrong_roots = ts.ExternalTSA("second", server.url, local.trusted_roots, timeout=TIMEOUT)
    good = ts.ExternalTSA("third", server.url, (server.root_certificate,), timeout=TIMEOUT)
    result = ts.obtain_timestamp(sha(b"x"), [down, wrong_roots, good, local])
    assert result.source == "third"
    assert [(a.source, a.reasons) for a in result.refused] == [
        ("first", (Reason.TSA_UNREACHABLE,)),
        ("second", (Reason.TSA_UNTRUSTED,)),
    ]


def test_batch_offline_asks_a_dead_tsa_once_then_signs_locally(local, server):
    server.mode = Mode.SLOW
    slow = ts.ExternalTSA("slow", server.url, (server.root_certificate,), timeout=SHORT)
    digests = [sha(b"%d" % i) for i in range(20)]
    before, started = server.requests, time.monotonic()
    results = ts.obtain_timestamps(digests, [slow, local])
    assert server.requests == before + 1
    assert time.monotonic() - started < SLOW_SECONDS - 1
    assert [r.info.imprint for r in results] == digests
    assert {r.source for r in results} == {"local"}
    assert results[0].refused[0].reasons == (Reason.TSA_TIMEOUT,)
    assert results[1].refused[0].reasons == (Reason.SKIPPED_AFTER_FAILURE, Reason.TSA_TIMEOUT)
    serials = [r.info.serial for r in results]
    assert len(set(serials)) == len(serials)


def test_a_batch_asks_a_tsa_several_at_once_and_keeps_its_order(local):
    """A TSA a second away: the batch's first item is asked alone, then EXTERNAL_IN_FLIGHT at
    once (190 files waited 190 round trips one after the other); each token is its own."""
    with LoopbackTSA(mode=Mode.SLOW, slow_seconds=1.0) as far:
        tsa = ts.ExternalTSA("far", far.url, (far.root_certificate,), timeout=TIMEOUT)
        digests = [sha(b"far %d" % i) for i in range(9)]
        results = ts.obtain_timestamps(digests, [tsa, local])
        assert far.requests == 9 and far.most_at_once == ts.EXTERNAL_IN_FLIGHT > 1
    assert [r.source for r in results] == ["far"] * 9
    assert [r.info.imprint for r in results] == digests
    assert all(r.refused == () for r in results)


def test_a_tsa_that_stops_answering_in_a_batch_is_not_asked_again(local):
    """It answers the first request, then no more: the requests under way time out, the rest
    are not sent, and the local TSA signs for all but the first."""

    class Failing(LoopbackTSA):
        def answer(self, request_der: bytes) -> tuple[int, bytes]:
            if self.requests >= 1:
                self.mode = Mode.SLOW
            return super().answer(request_der)

    with Failing(slow_seconds=SLOW_SECONDS) as failing:
        tsa = ts.ExternalTSA("failing", failing.url, (failing.root_certificate,), timeout=SHORT)
        digests = [sha(b"failing %d" % i) for i in range(12)]
        started = time.monotonic()
        results = ts.obtain_timestamps(digests, [tsa, local])
        assert time.monotonic() - started < SLOW_SECONDS - 1
        assert failing.requests == 1 + ts.EXTERNAL_IN_FLIGHT
    assert [r.info.imprint for r in results] == digests
    assert [r.source for r in results] == ["failing"] + ["local"] * 11
    reasons = [r.refused[0].reasons for r in results[1:]]
    assert reasons.count((Reason.TSA_TIMEOUT,)) == ts.EXTERNAL_IN_FLIGHT
    skipped = (Reason.SKIPPED_AFTER_FAILURE, Reason.TSA_TIMEOUT)
    assert reasons.count(skipped) == 11 - ts.EXTERNAL_IN_FLIGHT
    assert reasons[-1] == skipped  # (the first ones were under way; the last never sent)


def test_batch_online_uses_the_external_tsa_for_every_item(external, local, server):
    digests = [sha(b"%d" % i) for i in range(5)]
    results = ts.obtain_timestamps(digests, [external, local])
    assert [r.source for r in results] == ["loopback"] * 5
    assert [r.info.imprint for r in results] == digests


def test_a_bad_answer_in_a_batch_does_not_stop_asking(external, local, server):
    server.mode = Mode.WRONG_NONCE
    results = ts.obtain_timestamps([sha(b"a"), sha(b"b")], [external, local])
    assert [r.source for r in results] == ["local", "local"]
    assert [r.refused[0].reasons for r in results] == [(Reason.NONCE_MISMATCH,)] * 2


def test_loaded_trust_roots_come_from_pem(server):
    pem = server.root_certificate.public_bytes(serialization.Encoding.PEM)
    assert ts.load_certificates(pem + pem) == (server.root_certificate,) * 2


def test_local_batch_verified_first_in_full_then_read_back(local):
    digests = [sha(b"%d" % i) for i in range(6)]
    results = ts.obtain_timestamps(digests, [local], verify_local="first")
    assert [r.info.imprint for r in results] == digests
    assert results[0].report.check("signature").status is ts.CheckStatus.PASSED
    assert results[3].report.check("signature").status is ts.CheckStatus.SKIPPED
    assert results[3].report.check("imprint").status is ts.CheckStatus.PASSED
    for digest, result in zip(digests, results, strict=True):  # and each one does verify in full
        assert ts.verify_token(
            result.token, expected_digest=digest, trusted_roots=local.trusted_roots
        ).ok


def test_response_callable_gives_verified_responses(external, local, server):
    stamp = ts.response_callable([external, local])
    response = stamp(sha(b"dossier"))
    assert ts.verify_response(
        response, expected_digest=sha(b"dossier"), trusted_roots=[server.root_certificate]
    ).ok
    server.mode = Mode.GARBAGE
    fallback = stamp(sha(b"dossier"))
    assert ts.verify_response(
        fallback, expected_digest=sha(b"dossier"), trusted_roots=local.trusted_roots
    ).ok


def test_a_tsa_dripping_its_answer_is_bounded_by_one_deadline(external, local, server):
    """Each byte comes within the read timeout, the whole answer (over 1 KB at ten bytes a
    second) would take minutes: the request as a whole gives up after its timeout."""
    server.mode = Mode.DRIP
    dripping = dataclasses.replace(external, timeout=1.0)
    started = time.monotonic()
    result = ts.obtain_timestamp(sha(b"photo"), [dripping, local])
    took = time.monotonic() - started
    assert took < 5, took
    assert result.source == "local" and result.report.ok
    (refused,) = result.refused
    assert refused.reasons == (Reason.TSA_TIMEOUT,)
    assert "not complete within 1.0 s" in refused.detail


def test_a_tsa_dripping_its_status_line_and_headers_is_bounded_too(external, local, server):
    """The headers come a byte a tenth of a second (each read is quick, the status never
    arrives): the deadline covers every read of the request, not only the body's."""
    server.mode = Mode.DRIP_HEADERS
    dripping = dataclasses.replace(external, timeout=1.0)
    started = time.monotonic()
    result = ts.obtain_timestamp(sha(b"photo"), [dripping, local])
    took = time.monotonic() - started
    assert took < 3, took
    assert result.source == "local" and result.report.ok
    (refused,) = result.refused
    assert refused.reasons == (Reason.TSA_TIMEOUT,)
    assert "not complete within 1.0 s (no answer" in refused.detail
    server.mode = Mode.OK  # the same client, the same TSA: the next request is answered
    assert ts.obtain_timestamp(sha(b"next"), [external, local]).source == external.name
