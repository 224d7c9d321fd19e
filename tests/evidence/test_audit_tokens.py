"""An audit verifies each time-stamp token once, by one verifier unless a second opinion is
asked, and still names every tampered token where it is met: in the log's token check and in
the receipt that carries it."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from evidence import audit
from evidence.core import receipts, tokens
from evidence.core.checks import Check, Status
from evidence.core.tokenverdicts import TokenVerdicts
from evidence.storage.store import Store
from tests.conftest import tamper_object
from tests.evidence.test_timestamps import memory_tsa, sha


@pytest.fixture
def counted(monkeypatch):
    """How often each token was verified: by this project's checks (keyed by the token's
    TSTInfo) and by rfc3161-client's verifier (keyed by the same)."""
    own: Counter[bytes] = Counter()
    library: Counter[bytes] = Counter()
    checks, opinion = tokens._token_checks, tokens._library_check

    def counting_checks(token, *args, **kwargs):
        done = checks(token, *args, **kwargs)  # (the fast reader may give way to asn1crypto)
        own[token.econtent] += 1
        return done

    def counting_opinion(token_der, *args, **kwargs):
        info = tokens._split(token_der)[1]["content"]["encap_content_info"]["content"]
        library[info.contents] += 1
        return opinion(token_der, *args, **kwargs)

    monkeypatch.setattr(tokens, "_token_checks", counting_checks)
    monkeypatch.setattr(tokens, "_library_check", counting_opinion)
    return own, library


def _audit(store_dir: Path, **kw) -> audit.AuditReport:
    return audit.run(audit.StoreSource(Store.open(store_dir)), **kw)


def _receipt_paths(store_dir: Path) -> list[Path]:
    return sorted((store_dir / "receipts").glob("*.json"))


def test_each_token_is_verified_once_by_default(filled_store, counted):
    own, library = counted
    report = _audit(filled_store)
    assert report.ok, report.findings
    # 3 item tokens (each also in its receipt) and 2 checkpoint tokens (each also as N.tsr)
    assert report.tokens == 5 and report.receipts == 3
    assert len(own) == 5 and set(own.values()) == {1}
    assert not library  # no second opinion asked


def test_the_second_opinion_verifies_each_token_once_more(filled_store, counted):
    own, library = counted
    report = _audit(filled_store, second_opinion=True)
    assert report.ok, report.findings
    assert len(own) == 5 and set(own.values()) == {1}
    assert library == own  # the same five tokens, each once by rfc3161-client's verifier
    line = next(c for c in report.checks if c.id == "timestamp")
    assert "rfc3161-client" in line.detail


def test_a_token_only_the_second_opinion_refuses(filled_store, monkeypatch):
    def refuses(*_args, **_kw) -> Check:
        return Check("rfc3161_client", Status.FAILED, tokens.Reason.LIBRARY_REJECTED, "no")

    monkeypatch.setattr(tokens, "_library_check", refuses)
    assert _audit(filled_store).ok  # not asked
    report = _audit(filled_store, second_opinion=True)
    invalid = [f for f in report.failures if f.reason is audit.Reason.TIMESTAMP_INVALID]
    # the 5 tokens in the log, and the 2 N.tsr beside the checkpoints
    assert len(invalid) == 7 and all(f.sub_reasons == ("LIBRARY_REJECTED",) for f in invalid)
    bad_receipts = [f for f in report.failures if f.check == "receipt"]
    assert len(bad_receipts) == 3
    assert all("LIBRARY_REJECTED" in f.detail for f in bad_receipts)


def _tamper_item_token(store_dir: Path, where: str) -> tuple[Path, str]:
    """Flip a byte of the first receipt's token (in the TSA ``certificate`` it carries, or
    in its ``signature``), in the store and in the receipt alike; returns the receipt and
    the item it is for."""
    path = _receipt_paths(store_dir)[0]
    receipt = json.loads(path.read_bytes())
    token = bytearray(base64.b64decode(receipt["timestamp"]["token"]))
    token[len(token) // 3 if where == "certificate" else len(token) - 5] ^= 0x04
    token = bytes(token)
    entry = next(
        t
        for e in _timestamp_entries(store_dir)
        for t in e["tokens"]
        if t["subject"] == receipt["entry"]["item"]["sha256"]
    )
    tamper_object(store_dir, entry["token_sha256"], token)
    receipt["timestamp"]["token"] = base64.b64encode(token).decode()
    path.write_bytes(receipts.dumps(receipt))
    return path, receipt["entry"]["item"]["sha256"]


def _timestamp_entries(store_dir: Path) -> list[dict]:
    lines = (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    entries = [json.loads(line)["entry"] for line in lines]
    return [e for e in entries if e["event"] == "timestamp"]


@pytest.mark.parametrize("second_opinion", [False, True])
@pytest.mark.parametrize(
    ("where", "reasons"),
    [
        ("signature", ("SIGNATURE_INVALID",)),
        ("certificate", ("SIGNER_CERT_MISMATCH", "TSA_UNTRUSTED")),
    ],
)
def test_a_tampered_token_is_named_alike_in_the_log_and_in_its_receipt(
    filled_store, counted, second_opinion, where, reasons
):
    own, _library = counted
    path, item = _tamper_item_token(filled_store, where)
    report = _audit(filled_store, second_opinion=second_opinion)
    (in_log,) = [
        f for f in report.failures if f.reason is audit.Reason.TIMESTAMP_INVALID and f.item == item
    ]
    (in_receipt,) = [f for f in report.failures if f.check == "receipt"]
    assert in_receipt.item == path.name and in_receipt.reason is audit.Reason.RECEIPT_INVALID
    assert in_receipt.sub_reasons == ("TIMESTAMP_INVALID",)
    named = tuple(in_receipt.detail.split(": ", 1)[1].split(", "))
    assert named == in_log.sub_reasons == reasons  # the same named reasons in both
    # and the ones the receipt's own check gives, verifying the token afresh
    alone = receipts.verify(
        json.loads(path.read_bytes()),
        Store.open(filled_store).public_key(),
        tsa_roots=tokens.load_certificates((filled_store / "public/tsa-root.pem").read_bytes()),
    )
    assert alone.check("timestamp").sub_reasons == named
    tampered = [n for n in own.values() if n > 1]
    if where == "signature":  # the same bytes under the same trust: verified once in the audit
        assert tampered == [2]  # (and once more by receipts.verify here)
    else:  # the log's check adds public/tsa.pem, which the token no longer carries: the
        assert tampered == [3]  # inputs differ, so the receipt's check verifies it anew


def test_a_receipt_whose_token_is_another_items_is_refused(filled_store):
    """A verdict is kept per digest: the same token over another item is checked anew."""
    a, b = _receipt_paths(filled_store)[:2]
    ra, rb = json.loads(a.read_bytes()), json.loads(b.read_bytes())
    ra["timestamp"]["token"] = rb["timestamp"]["token"]
    a.write_bytes(receipts.dumps(ra))
    report = _audit(filled_store)
    (bad,) = [f for f in report.failures if f.check == "receipt"]
    assert bad.item == a.name and "IMPRINT_MISMATCH" in bad.detail
    assert not [f for f in report.failures if f.check == "timestamp"]


def test_a_receipts_recorded_time_is_checked_for_the_receipt(filled_store):
    """The times are checked for each use: a receipt claiming the token was recorded long
    before its time fails, though the log's same token passes."""
    path = _receipt_paths(filled_store)[0]
    receipt = json.loads(path.read_bytes())
    receipt["timestamp"]["recorded_at"] = "2020-01-01T00:00:00Z"
    path.write_bytes(receipts.dumps(receipt))
    report = _audit(filled_store)
    (bad,) = [f for f in report.failures if f.check == "receipt"]
    assert "TIME_AFTER_RECORD" in bad.detail
    assert not [f for f in report.failures if f.check == "timestamp"]


# --- the verdicts give verify_token's report, input for input ----------------------------------


def _reports_agree(verdicts: TokenVerdicts, token: bytes, **kw) -> tokens.TokenReport:
    got = verdicts(token, **kw)
    expected = tokens.verify_token(token, second_opinion=verdicts.second_opinion, **kw)
    assert got.checks == expected.checks and got.info == expected.info
    return got


@pytest.mark.parametrize("second_opinion", [False, True])
def test_kept_verdicts_report_what_verify_token_reports(second_opinion):
    tsa, other = memory_tsa(), memory_tsa("Other Coalition")
    response = tsa.timestamp(sha(b"item"))
    token = tokens.token_from_response(response)
    without_cert = tokens.token_from_response(tsa.timestamp(sha(b"item"), cert_req=False))
    roots, wrong_roots = (tsa.root_certificate,), (other.root_certificate,)
    verdicts = TokenVerdicts(second_opinion=second_opinion)
    now = dt.datetime.now(dt.UTC)
    cases = [
        {"token": token, "recorded_at": now},
        {"token": token, "recorded_at": now - dt.timedelta(hours=1)},  # TIME_AFTER_RECORD
        {"token": token, "recorded_at": None},
        {"token": token, "recorded_at": now, "tolerance": dt.timedelta(hours=2)},
        {"token": response, "recorded_at": now},  # the same token in its TimeStampResp
        {"token": token, "recorded_at": now, "certificates": (tsa.certificate,)},
        {"token": token, "recorded_at": now, "digest": sha(b"another item")},
        {"token": token, "recorded_at": now, "roots": wrong_roots},
        {"token": without_cert, "recorded_at": now},  # SIGNER_CERT_MISSING
        {"token": without_cert, "recorded_at": now, "certificates": (tsa.certificate,)},
        {"token": without_cert, "recorded_at": now},
        {"token": token[:-3], "recorded_at": now},  # MALFORMED
        {"token": b"junk", "recorded_at": now},
        {"token": token, "recorded_at": now.replace(tzinfo=None)},  # naive: MALFORMED
    ]
    reports = []
    for case in cases:
        reports.append(
            _reports_agree(
                verdicts,
                case["token"],
                expected_digest=case.get("digest", sha(b"item")),
                trusted_roots=case.get("roots", roots),
                recorded_at=case["recorded_at"],
                tolerance=case.get("tolerance", tokens.DEFAULT_TOLERANCE),
                certificates=case.get("certificates", ()),
            )
        )
    assert reports[0].ok and not reports[1].ok and reports[4].ok
    assert "SIGNER_CERT_MISSING" in reports[8].reason_names() and reports[9].ok
    # the good token under its own trust: verified once, whatever record or wrapper
    assert verdicts.verified < len(cases)


def test_a_verdict_kept_without_the_token_cannot_give_a_second_opinion():
    tsa = memory_tsa()
    token = tokens.token_from_response(tsa.timestamp(sha(b"x")))
    verdicts = TokenVerdicts(second_opinion=False)
    verdict = verdicts.verdict(
        token, expected_digest=sha(b"x"), trusted_roots=(tsa.root_certificate,)
    )
    assert verdict.token is None  # never to be asked: the bytes are not kept
    with pytest.raises(ValueError):
        verdict.report(second_opinion=True)


def test_the_command_line_asks_the_second_opinion_only_when_told(filled_store, dalel):
    def timestamp_detail(*flags: str) -> str:
        r = dalel("--store", filled_store, "audit", *flags, "--json")
        assert r.code == 0, r.err
        return next(c for c in r.json()["checks"] if c["check"] == "timestamp")["detail"]

    assert "rfc3161-client" not in timestamp_detail()
    assert "rfc3161-client" in timestamp_detail("--second-opinion")
