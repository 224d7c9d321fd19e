"""One Check/Report type for every verification: its bottom line, JSON form and raising, the
four verifications that return it, and the one renderer that prints any of them."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

import pytest

from base.errors import VerificationFailed
from cli.output import check_text, render_report
from evidence import audit
from evidence.core import receipts, tokens
from evidence.core.checks import Check, Report, Status
from evidence.pdf import verify as pdfverify
from evidence.storage.store import Store


class Why(StrEnum):
    BROKEN = "BROKEN"
    UNKNOWN = "UNKNOWN"


def report(*statuses: Status) -> Report:
    return Report(tuple(Check(f"c{i}", s) for i, s in enumerate(statuses)))


# --- the bottom line ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statuses", "ok", "bottom"),
    [
        ((Status.PASSED,), True, Status.PASSED),
        ((Status.PASSED, Status.WARNING, Status.SKIPPED), True, Status.PASSED),
        ((Status.WARNING,), True, Status.PASSED),
        ((Status.PASSED, Status.FAILED), False, Status.FAILED),
        ((Status.INDETERMINATE, Status.FAILED, Status.WARNING), False, Status.FAILED),
        ((Status.PASSED, Status.INDETERMINATE), False, Status.INDETERMINATE),
        ((), False, Status.INDETERMINATE),
    ],
)
def test_bottom_line(statuses, ok, bottom):
    r = report(*statuses)
    assert r.ok is ok and r.bottom_line is bottom
    assert r.exit_code == (0 if ok else 1)
    assert [c.status for c in r.failures] == [
        s for s in statuses if s in (Status.FAILED, Status.INDETERMINATE)
    ]


def test_an_empty_report_is_not_ok_and_raises():
    with pytest.raises(VerificationFailed, match="nothing was checked"):
        Report().verify_or_raise()


def test_reasons_and_lookup():
    r = Report(
        (
            Check("a", Status.FAILED, Why.BROKEN),
            Check("b", Status.WARNING, Why.UNKNOWN),  # a warning's reason is no failure
            Check("c", Status.INDETERMINATE, Why.UNKNOWN),
            Check("d", Status.PASSED),
        )
    )
    assert r.reason_set() == {Why.BROKEN, Why.UNKNOWN}
    assert r.reason_names() == ("BROKEN", "UNKNOWN")
    assert r.check("c").status is Status.INDETERMINATE and r.check("c").check == "c"
    with pytest.raises(KeyError):
        r.check("nope")


def test_to_dict_is_json_with_every_check():
    r = Report(
        (
            Check("sig", Status.PASSED, detail="signed by X"),
            Check("obj", Status.FAILED, Why.BROKEN, "hashes to 00", "ab" * 32, ("INNER",)),
        )
    )
    d = json.loads(json.dumps(r.to_dict()))
    assert d["ok"] is False and d["bottom_line"] == "FAILED"
    assert d["checks"] == [
        {
            "check": "sig",
            "status": "PASSED",
            "reason": None,
            "detail": "signed by X",
            "subject": "",
            "sub_reasons": [],
        },
        {
            "check": "obj",
            "status": "FAILED",
            "reason": "BROKEN",
            "detail": "hashes to 00",
            "subject": "ab" * 32,
            "sub_reasons": ["INNER"],
        },
    ]


def test_verify_or_raise_names_every_failed_check():
    ok = report(Status.PASSED, Status.WARNING)
    assert ok.verify_or_raise() is ok
    bad = Report(
        (
            Check("signature", Status.FAILED, Why.BROKEN),
            Check("chain", Status.PASSED),
            Check("object", Status.INDETERMINATE, subject="f.jpg"),
            Check("entry", Status.FAILED, Why.UNKNOWN),
        )
    )
    with pytest.raises(VerificationFailed) as err:
        bad.verify_or_raise()
    message = str(err.value)
    assert err.value.exit_code == 1
    for words in ("signature BROKEN", "object f.jpg INDETERMINATE", "entry UNKNOWN"):
        assert words in message
    assert "chain" not in message


# --- the four verifications return it ------------------------------------------------------------
def test_the_four_reports_are_reports_with_ok_and_checks_in_their_json(store_dir):
    receipt = receipts.verify({"format": "something else"})
    token = tokens.verify_token(
        b"not a token", expected_digest=hashlib.sha256(b"x").digest(), trusted_roots=()
    )
    dossier = pdfverify.verify_dossier(b"not a pdf", [])
    audited = audit.run(audit.StoreSource(Store.open(store_dir)))
    for r, kind in (
        (receipt, receipts.ReceiptReport),
        (token, tokens.TokenReport),
        (dossier, pdfverify.DossierReport),
        (audited, audit.AuditReport),
    ):
        assert isinstance(r, kind) and isinstance(r, Report)
        assert all(isinstance(c, Check) for c in r.checks) and r.checks
        d = json.loads(json.dumps(r.to_dict()))
        assert d["ok"] is r.ok and len(d["checks"]) == len(r.checks)
        assert d["bottom_line"] == r.bottom_line.value
    assert not receipt.ok and receipt.reason_set() == {receipts.Reason.MALFORMED}
    assert receipt.to_dict()["item_sha256"] is None
    assert not token.ok and token.reasons == (tokens.Reason.MALFORMED,)
    assert not dossier.ok and dossier.reasons == {pdfverify.Reason.PDF_UNREADABLE}
    assert {"signer", "signed_at"} <= set(dossier.to_dict())
    # a new store is intact; the only finding is the note that its keys were not pinned
    assert audited.ok
    assert [(f["reason"], f["severity"]) for f in audited.to_dict()["findings"]] == [
        ("KEY_NOT_PINNED", "NOTE")
    ]
    assert [c.id for c in audited.checks if c.status is Status.PASSED] == [
        "log",
        "object",
        "checkpoint",
        "timestamp",
        "receipt",
    ]


def test_each_family_raises_its_own_error():
    token = tokens.verify_token(b"junk", expected_digest=b"\0" * 32, trusted_roots=())
    with pytest.raises(tokens.TokenVerificationError, match="MALFORMED") as err:
        token.verify_or_raise()
    assert err.value.report is token
    dossier = pdfverify.verify_dossier(b"junk", [])
    with pytest.raises(pdfverify.DossierVerificationFailed, match="pdf: PDF_UNREADABLE"):
        dossier.verify_or_raise()


def test_an_audit_note_is_a_warning_that_does_not_fail_it():
    note = audit.finding(
        "log", "entry 3", audit.Reason.TORN_APPEND, "12 bytes", status=Status.WARNING
    )
    problem = audit.finding("object", "ab" * 32, audit.Reason.HASH_MISMATCH, "hashes to 00")
    lines = {f: audit.Finding(f, Status.PASSED, None, "fine") for f in audit.FAMILIES}
    counts = dict(
        entries=3,
        objects_checked=1,
        objects_rehashed=True,
        checkpoints=1,
        receipts=0,
        latest_checkpoint_size=3,
    )
    noted = audit.AuditReport(checks=audit.by_family([note], lines), **counts)
    assert noted.ok and noted.findings == (note,) and not noted.failures
    assert noted.to_dict()["findings"][0]["severity"] == "NOTE"
    failed = audit.AuditReport(checks=audit.by_family([note, problem], lines), **counts)
    assert not failed.ok and failed.reasons() == {audit.Reason.HASH_MISMATCH}
    assert failed.failures[0].item == "ab" * 32  # type: ignore[attr-defined]
    (row,) = (f for f in failed.to_dict()["findings"] if f["severity"] == "FAILED")
    assert row == {
        "check": "object",
        "item": "ab" * 32,
        "reason": "HASH_MISMATCH",
        "detail": "hashes to 00",
        "severity": "FAILED",
        "sub_reasons": [],
    }
    # the object family has a failure, so no PASSED line leads it
    assert [c.id for c in failed.checks if c.status is Status.PASSED] == [
        "log",
        "checkpoint",
        "timestamp",
        "receipt",
    ]


# --- the one renderer -----------------------------------------------------------------------------
def test_render_prints_every_check_and_the_bottom_line(capsys):
    r = Report(
        (
            Check("inclusion", Status.PASSED),
            Check("attachment:[red]E01[/].jpg", Status.FAILED, Why.BROKEN, "[bold]x[/bold]"),
        )
    )
    render_report(
        r,
        False,
        headline="[b]2 checks[/b]",
        subject="item [i]",
        holds="holds",
        fails="does NOT hold",
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[b]2 checks[/b]"
    assert lines[1].split() == ["PASSED", "inclusion"]
    assert lines[2].split() == ["FAILED", "attachment:[red]E01[/].jpg", "BROKEN:", "[bold]x[/bold]"]
    assert lines[3] == "item [i]: does NOT hold"
    render_report(report(Status.PASSED), False, holds="holds", fails="NOT")
    assert capsys.readouterr().out.splitlines()[-1] == "holds"
    render_report(report(), False)
    assert capsys.readouterr().out.splitlines()[-1] == "INDETERMINATE"


def test_render_json_is_to_dict(capsys):
    r = Report((Check("a", Status.WARNING, Why.UNKNOWN, subject="s"),))
    render_report(r, True, holds="never printed")
    assert json.loads(capsys.readouterr().out) == r.to_dict()


def test_check_text_shows_subject_and_colours_status():
    line = check_text(Check("timestamp", Status.WARNING, Why.UNKNOWN, "late", "ab12"))
    assert line.plain.split() == ["WARNING", "timestamp", "ab12", "UNKNOWN:", "late"]
    (span,) = line.spans  # only the status is coloured
    assert (span.style, line.plain[span.start : span.end].strip()) == ("yellow", "WARNING")
