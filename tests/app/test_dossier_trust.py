"""`dalel dossier verify` as the README documents it: the organisation's trust bundle alone is
enough; a root not given is named, with the fix; a damaged file is a named failure, never a
traceback; the signer is named whole, however long its Cyrillic name."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from cli import main
from evidence.pdf import sign as pdfsign
from tests.conftest import VALID_IIN, dalel_subprocess, make_photo
from tests.evidence.test_org_names import LONG_NAME


def _run(*args: object) -> None:
    assert main([str(a) for a in args]) == 0, args


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A store for a 60-character Cyrillic organisation and one dossier it signed."""
    work = tmp_path_factory.mktemp("trust")
    store = work / "store"
    photo = make_photo(work / "protocol.jpg")
    _run("--store", store, "init", "--org", LONG_NAME)
    _run("--store", store, "ingest", photo, "--observer", VALID_IIN, "--precinct", "7")
    _run("--store", store, "case", "new", "--precinct", "7", "--kind", "other")
    receipt = json.loads(sorted((store / "receipts").glob("*.json"))[0].read_text())
    _run("--store", store, "case", "add-evidence", "case-0001", receipt["entry"]["item"]["sha256"])
    _run(
        "--store", store, "case", "set", "case-0001",
        "--addressee-name", "Территориальная избирательная комиссия",
        "--respondent", "УИК № 7",
        "--complainant-name", "Айгерім Сәрсенова",
        "--complainant-iin", VALID_IIN,
        "--complainant-address", "Алматы",
        "--event-date", datetime.date.today().isoformat(),
        "--facts", "Протокол не выдан.",
        "--relief", "Признать действия незаконными.",
    )  # fmt: skip
    pdf = work / "dossier.pdf"
    _run("--store", store, "dossier", "build", "case-0001", "--out", pdf, "--lang", "ru")
    return {
        "work": work,
        "pdf": pdf,
        "bundle": store / "public" / pdfsign.TRUST_BUNDLE_FILE,
        "ca": store / "public" / pdfsign.ORG_CA_CERT_FILE,
    }


def verify(*args: object) -> subprocess.CompletedProcess:
    """`dalel dossier verify` in a process of its own (what reaches the terminal is what a
    user sees), with no store to fall back on."""
    env = {**os.environ, "DALEL_STORE": "/nonexistent/dalel-store"}
    return dalel_subprocess("dossier", "verify", *args, env=env)


def failed(r: subprocess.CompletedProcess) -> dict[str, str]:
    return {c["reason"]: c["detail"] for c in json.loads(r.stdout)["checks"] if c["reason"]}


def no_traceback(r: subprocess.CompletedProcess) -> None:
    for text in (r.stdout, r.stderr):
        assert "Traceback" not in text and '  File "' not in text, text
        assert "internal error" not in text, text


def test_the_trust_bundle_alone_verifies_a_good_dossier(made):
    r = verify(made["pdf"], "--trust", made["bundle"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("dossier intact")
    assert r.stderr == ""


def test_the_signer_is_named_whole_by_dalel_and_by_pdfsig(made):
    r = verify(made["pdf"], "--trust", made["bundle"], "--json")
    assert r.returncode == 0, r.stdout
    report = json.loads(r.stdout)
    assert report["ok"] and report["signer"].count(LONG_NAME) == 2  # O and CN
    assert report["location"] == LONG_NAME  # the signature's own metadata, whole
    sig = subprocess.run(["pdfsig", made["pdf"]], capture_output=True, text=True).stdout
    assert f"Signer Certificate Common Name: {LONG_NAME}\n" in sig
    assert f"O={LONG_NAME}" in sig and "Signature is Valid" in sig


def test_the_org_ca_alone_names_the_missing_tsa_root_and_the_fix(made):
    r = verify(made["pdf"], "--trust", made["ca"], "--json")
    assert r.returncode == 1
    reasons = failed(r)
    assert set(reasons) == {"TSA_UNTRUSTED"}  # the signature itself is fine
    detail = reasons["TSA_UNTRUSTED"]
    assert "root certificate (Common Name: Dalel TSA Root" in detail and LONG_NAME in detail
    assert "was not given" in detail and pdfsign.TRUST_BUNDLE_FILE in detail
    text = verify(made["pdf"], "--trust", made["ca"])
    assert text.returncode == 1 and "dossier NOT intact" in text.stdout
    assert "fix:" in text.stderr and f"--trust {pdfsign.TRUST_BUNDLE_FILE}" in text.stderr
    assert "the root of the TSA that timestamped it" in text.stderr
    no_traceback(text)
    assert "PathBuildingError" not in text.stderr  # pyHanko's log stays off the terminal


def test_the_tsa_root_alone_names_the_missing_org_ca(made, tmp_path):
    root = tmp_path / "tsa-root.pem"
    root.write_bytes((made["bundle"].parent / "tsa-root.pem").read_bytes())
    r = verify(made["pdf"], "--trust", root, "--json")
    assert r.returncode == 1
    assert "SIGNER_UNTRUSTED" in failed(r) and "TSA_UNTRUSTED" not in failed(r)
    detail = failed(r)["SIGNER_UNTRUSTED"]
    assert "its CA (" in detail and "Common Name: Dalel CA" in detail
    assert "was not given" in detail and pdfsign.TRUST_BUNDLE_FILE in detail


def test_a_trust_file_that_holds_no_certificate_is_a_usage_error(made):
    r = verify(made["pdf"], "--trust", made["bundle"].parent / "log.pub")
    assert r.returncode == 2 and "log.pub holds no certificate" in r.stderr
    assert pdfsign.TRUST_BUNDLE_FILE in r.stderr
    no_traceback(r)


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def _contents_at(data: bytes) -> int:
    return data.index(b"/Contents <") + len(b"/Contents <") + 40


DAMAGES = {
    "truncated-half": (lambda d: d[: len(d) // 2], "PDF_UNREADABLE"),
    "truncated-tail": (lambda d: d[:-100], "PDF_UNREADABLE"),
    "byte-altered-in-signed-range": (lambda d: _flip(d, len(d) // 3), "SIGNATURE_INVALID"),
    "byte-altered-in-signature": (lambda d: _flip(d, _contents_at(d)), "SIGNATURE_INVALID"),
    "not-a-pdf": (lambda d: b"\xff\xd8\xff\xe0 a JPEG, not a dossier" * 20, "PDF_UNREADABLE"),
    "empty": (lambda d: b"", "PDF_UNREADABLE"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_dossier_is_a_named_failure_never_a_traceback(made, tmp_path, damage):
    change, reason = DAMAGES[damage]
    bad = tmp_path / f"{damage}.pdf"
    bad.write_bytes(change(made["pdf"].read_bytes()))
    r = verify(bad, "--trust", made["bundle"], "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert reason in failed(r), failed(r)
    no_traceback(r)
    text = verify(bad, "--trust", made["bundle"])
    assert text.returncode == 1 and text.stdout.strip().endswith("dossier NOT intact")
    assert reason in text.stdout
    no_traceback(text)
