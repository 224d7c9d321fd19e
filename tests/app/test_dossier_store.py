"""Dossiers built from the store: both editions, the recorded derivatives, bad input,
and tampering detected by `dossier verify`."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from app import deadlines
from evidence import audit
from evidence.pdf import sign as pdfsign
from evidence.storage.store import Store
from tests.conftest import VALID_IIN, filing_details
from tests.pipeline.test_figures import _entries, _protocol


@pytest.fixture(scope="module")
def case_store(tmp_path_factory) -> tuple[Path, str]:
    """A store with a protocol photo (read), a photo with a face, an official import and a
    case with the complainant's details."""
    from cli import main

    tmp = tmp_path_factory.mktemp("dossier")
    store = tmp / "store"

    def run(*args) -> None:
        assert main([str(a) for a in args]) in (0, 3), args

    run("--store", store, "init", "--org", "Қазақстан бақылаушылар коалициясы")
    photo = _protocol(tmp, "protocol-31", 6)
    run(
        "--store",
        store,
        "run",
        photo.parent,
        "--observer",
        VALID_IIN,
        "--precinct",
        "31",
        "--kind",
        "protocol",
    )
    face = tmp / "faces" / "crowd.png"
    face.parent.mkdir()
    face.write_bytes(resources.files("skimage.data").joinpath("astronaut.png").read_bytes())
    run(
        "--store",
        store,
        "ingest",
        face,
        "--observer",
        VALID_IIN,
        "--precinct",
        "31",
        "--kind",
        "violation",
        "--note",
        "Посторонний у урны",
    )
    (tmp / "off.csv").write_text("precinct,field,value\n31,amanat,1\n", encoding="utf-8")
    run("--store", store, "official", "import", tmp / "off.csv")
    run("--store", store, "case", "new", "--from-discrepancy", "31")
    items = [e["item"]["sha256"] for e in _entries(store, "ingest")]
    run("--store", store, "case", "add-evidence", "case-0001", *items)
    run(
        "--store",
        store,
        "case",
        "set",
        "case-0001",
        "--respondent",
        "Участковая избирательная комиссия № 31",
        "--complainant-name",
        "Айгерім Сәрсенова",
        "--complainant-iin",
        VALID_IIN,
    )
    run(
        "--store",
        store,
        "case",
        "set",
        "case-0001",
        *filing_details(iin=None, name=None, respondent=None),
    )
    return store, "case-0001"


def test_court_and_public_editions_verify_and_pdfsig_agrees(case_store, tmp_path, dalel):
    store, cid = case_store
    court, public = tmp_path / "court-ru.pdf", tmp_path / "public-kk.pdf"
    r = dalel("--store", store, "dossier", "build", cid, "--out", court, "--json")
    assert r.code == 0, r.err
    assert r.json()["deadline_passed"] is False
    r = dalel(
        "--store",
        store,
        "dossier",
        "build",
        cid,
        "--out",
        public,
        "--lang",
        "kk",
        "--edition",
        "public",
        "--json",
    )
    assert r.code == 0, r.err
    assert r.json()["derivatives"] >= 1  # the face was blurred
    for pdf in (court, public):
        v = dalel("dossier", "verify", pdf, "--store", store, "--json")
        assert v.code == 0, v.out
        sig = subprocess.run(["pdfsig", pdf], capture_output=True, text=True).stdout
        assert "Signature is Valid" in sig and "Total document signed" in sig
    court_text = subprocess.run(["pdftotext", court, "-"], capture_output=True, text=True).stdout
    public_text = subprocess.run(["pdftotext", public, "-"], capture_output=True, text=True).stdout
    assert "Айгерім Сәрсенова" in court_text and "Айгерім Сәрсенова" not in public_text
    assert VALID_IIN not in public_text
    # What the build derived is in the custody log, naming its parent; the store is intact.
    derived = _entries(store, "derive")
    assert derived and all(d["item"]["derived_from"] for d in derived)
    assert {d["operation"] for d in derived} >= {"blur-faces"}
    dossiers = _entries(store, "dossier")
    assert [d["edition"] for d in dossiers[-2:]] == ["court", "public"]
    assert audit.run(audit.StoreSource(Store.open(store))).ok


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_tampering_is_named(case_store, tmp_path, dalel):
    store, cid = case_store
    pdf = tmp_path / "d.pdf"
    assert dalel("--store", store, "dossier", "build", cid, "--out", pdf).code == 0
    data = pdf.read_bytes()
    cases = {
        "byte": _flip(data, len(data) // 3),
        "appended": data + b"\n% an update appended after signing\n",
    }
    for name, bad in cases.items():
        p = tmp_path / f"{name}.pdf"
        p.write_bytes(bad)
        v = dalel("dossier", "verify", p, "--store", store, "--json")
        assert v.code == 1, name
        assert [c for c in v.json()["checks"] if c["status"] != "PASSED"], name
    # an incremental update that replaces an attachment
    from io import BytesIO

    from pyhanko.pdf_utils.embed import EmbeddedFileObject, FileSpec, embed_file
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(BytesIO(data))
    ef = EmbeddedFileObject.from_file_data(w, b"forged original", mime_type="image/jpeg")
    embed_file(w, FileSpec(file_spec_string="E01-forged.jpg", embedded_data=ef))
    out = BytesIO()
    w.write(out)
    p = tmp_path / "replaced.pdf"
    p.write_bytes(out.getvalue())
    v = dalel("dossier", "verify", p, "--store", store, "--json")
    assert v.code == 1
    reasons = {c["reason"] for c in v.json()["checks"] if c["status"] != "PASSED"}
    assert reasons & {"UPDATED_AFTER_SIGNING", "NOT_WHOLE_FILE", "ATTACHMENT_UNLISTED"}


def test_bad_input_gives_clear_errors_and_no_half_written_pdf(case_store, tmp_path, dalel):
    store, cid = case_store
    assert dalel("--store", store, "case", "new", "--precinct", "9", "--kind", "other").code == 0
    out = tmp_path / "empty.pdf"
    r = dalel("--store", store, "dossier", "build", "case-0002", "--out", out)
    assert r.code == 2 and "no evidence" in r.err and not out.exists()
    r = dalel("--store", store, "dossier", "build", "case-9999", "--out", out)
    assert r.code == 2 and not out.exists()
    p12 = tmp_path / "bad.p12"
    p12.write_bytes(b"not a pkcs12 file")
    r = dalel(
        "--store",
        store,
        "dossier",
        "build",
        cid,
        "--out",
        out,
        "--sign",
        p12,
        "--password-env",
        "DALEL_TEST_P12_PASSWORD",
    )
    assert r.code == 2 and "DALEL_TEST_P12_PASSWORD" in r.err and not out.exists()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_missing_object_and_wrong_password(case_store, tmp_path, dalel, monkeypatch):
    store, cid = case_store
    s = Store.open(store)
    key = serialization.load_pem_private_key((s.keys_dir / pdfsign.ORG_KEY_FILE).read_bytes(), None)
    cert = x509.load_pem_x509_certificate((s.public_dir / pdfsign.ORG_CERT_FILE).read_bytes())
    p12 = tmp_path / "org.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"org", key, cert, None, BestAvailableEncryption(b"right")
        )
    )
    out = tmp_path / "x.pdf"
    monkeypatch.setenv("P12_PW", "wrong")
    r = dalel(
        "--store",
        store,
        "dossier",
        "build",
        cid,
        "--out",
        out,
        "--sign",
        p12,
        "--password-env",
        "P12_PW",
    )
    assert r.code != 0 and "password" in r.err.lower() and not out.exists()
    monkeypatch.setenv("P12_PW", "right")
    r = dalel(
        "--store",
        store,
        "dossier",
        "build",
        cid,
        "--out",
        out,
        "--sign",
        p12,
        "--password-env",
        "P12_PW",
    )
    assert r.code == 0, r.err


def test_passed_deadline_builds_and_says_so(tmp_path, dalel, inbox):
    store = tmp_path / "s"
    assert dalel("--store", store, "init").code == 0
    assert (
        dalel(
            "--store",
            store,
            "ingest",
            inbox / "protocol-1.jpg",
            "--observer",
            "o",
            "--precinct",
            "2",
        ).code
        == 0
    )
    day = (deadlines.today_in("Asia/Almaty") - timedelta(days=30)).isoformat()
    cid = dalel(
        "--store",
        store,
        "case",
        "new",
        "--precinct",
        "2",
        "--kind",
        "observer-obstruction",
        "--event-date",
        day,
        "--json",
    ).json()["id"]
    sha = _entries(store, "ingest")[0]["item"]["sha256"]
    assert dalel("--store", store, "case", "add-evidence", cid, sha).code == 0
    assert dalel("--store", store, "case", "set", cid, *filing_details(event_date=None)).code == 0
    out = tmp_path / "late.pdf"
    r = dalel("--store", store, "dossier", "build", cid, "--out", out, "--lang", "en", "--json")
    assert r.code == 0 and r.json()["deadline_passed"] is True
    text = subprocess.run(["pdftotext", out, "-"], capture_output=True, text=True).stdout
    assert "passed" in text.lower()
    # the object of an exhibit goes missing: a clear error, no PDF
    obj = Store.open(store).objects.path(sha)
    obj.unlink()
    out2 = tmp_path / "missing.pdf"
    r = dalel("--store", store, "dossier", "build", cid, "--out", out2)
    assert r.code == 2 and "missing" in r.err and not out2.exists()


LONG_FILE = (
    "хаттама_учаскелік_сайлау_комиссиясының_қорытынды_хаттамасының_көшірмесі_"
    "№31_2026_жылғы_30_қараша_бақылаушы_түсірген.png"
)
LONG_BODY = (
    "Территориальная избирательная комиссия Алмалинского района города Алматы "
    "(председатель и члены комиссии, принявшие решение об утверждении итогов)"
)


def _pdf_text(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True
    ).stdout
    return [" ".join(p.split()) for p in text.split("\f") if p.strip()]


def test_a_complaint_missing_what_it_needs_is_refused_and_its_draft_says_so(tmp_path, dalel):
    from testing.pdf_margins import overflows

    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Коалиция").code == 0
    photo = _protocol(tmp_path, "p", 6)
    long_named = photo.with_name(LONG_FILE)
    photo.rename(long_named)
    r = dalel(
        *("--store", store, "run", long_named.parent, "--observer", VALID_IIN),
        *("--precinct", "31", "--kind", "protocol"),
    )
    assert r.code in (0, 3), r.err
    (tmp_path / "off.csv").write_text("precinct,field,value\n31,amanat,1\n", encoding="utf-8")
    assert dalel("--store", store, "official", "import", tmp_path / "off.csv").code == 0
    assert dalel("--store", store, "case", "new", "--from-discrepancy", "31").code == 0
    court = tmp_path / "court.pdf"
    r = dalel("--store", store, "dossier", "build", "case-0001", "--out", court)
    assert r.code == 2 and not court.exists()
    for gap, option in (
        ("addressee", "--addressee-name"),
        ("respondent", "--respondent"),
        ("complainant's name", "--complainant-name"),
        ("complainant's IIN", "--complainant-iin"),
        ("date of the decision or action complained of", "--event-date"),
        ("facts", "--facts"),
        ("relief asked for", "--relief"),
    ):
        assert gap in r.err and option in r.err, (gap, r.err)

    # A draft builds, says DRAFT on every page and names what is missing, never blank.
    draft = tmp_path / "draft-en.pdf"
    r = dalel(
        *("--store", store, "dossier", "build", "case-0001", "--draft", "--lang", "en"),
        *("--out", draft, "--json"),
    )
    assert r.code == 0, r.err
    assert r.json()["draft"] is True and "facts" in r.json()["missing"]
    pages = _pdf_text(draft)
    assert all("DRAFT" in p for p in pages), [p[:80] for p in pages]
    assert "not given" in pages[0] and "public edition" not in pages[0]
    info = subprocess.run(["pdfinfo", draft], capture_output=True, text=True).stdout
    title = next(ln for ln in info.splitlines() if ln.startswith("Title:"))
    assert "DRAFT" in title and "precinct No. 31" in title  # never "Complaint: " and nothing
    whole = " ".join(pages)
    # Every word of an English dossier is English: the form's lines too.
    assert "Voters on the lists" in whole and "Число избирателей" not in whole
    assert "counsel" not in whole.lower()  # that is for the lawyer's checklist, not the filing

    # Given what it needs, the court edition builds: signature and date lines for the
    # complainant, the checklist for counsel printed by the command, not on the document.
    args = filing_details(respondent=LONG_BODY)
    args[args.index("--addressee-name") + 1] = LONG_BODY
    assert dalel("--store", store, "case", "set", "case-0001", *args).code == 0
    r = dalel("--store", store, "dossier", "build", "case-0001", "--out", court, "--json")
    assert r.code == 0, r.err
    assert r.json()["draft"] is False and r.json()["missing"] == []
    assert any("complainant signs" in c for c in r.json()["checklist"])
    pages = _pdf_text(court)
    assert not any("ЧЕРНОВИК" in p for p in pages)
    statement = next(p for p in pages if "Подпись" in p)
    assert "Дата" in statement and "Айгерім Сәрсенова" in statement
    assert "Экземпляр для суда" not in " ".join(pages)  # a complaint to a commission
    raw = subprocess.run(["pdftotext", "-layout", court, "-"], capture_output=True, text=True)
    header = next(ln for ln in raw.stdout.splitlines() if "Разница" in ln and "Протокол" in ln)
    assert "Официальные" in header and "Официально" not in header
    assert (
        "local"
        not in " ".join(p for p in pages if "служба меток времени" in p).split(
            "служба меток времени:"
        )[-1][:20]
    )

    # Nothing runs into the paper's margins, in any language or edition, with long names.
    public = tmp_path / "public-kk.pdf"
    r = dalel(
        *("--store", store, "dossier", "build", "case-0001", "--edition", "public"),
        *("--lang", "kk", "--out", public),
    )
    assert r.code == 0, r.err
    for pdf in (court, public, draft):
        assert overflows(pdf) == [], pdf.name
