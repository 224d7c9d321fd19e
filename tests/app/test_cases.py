"""Cases, deadlines, official results and discrepancies."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from app import cases, deadlines
from base.errors import StoreCorrupt
from evidence.storage.store import Store
from ocr.synth import make_sample
from tests.conftest import VALID_IIN
from tests.pipeline.test_figures import _entries

NAME = "Әйгерім Нұрланқызы Сәрсенбаева"


def test_case_lifecycle_and_complainant_kept_encrypted(filled_store, tmp_path, dalel):
    r = dalel(
        "--store",
        filled_store,
        "case",
        "new",
        "--precinct",
        "101",
        "--kind",
        "ballot-stuffing",
        "--title",
        "Вброс бюллетеней",
        "--json",
    )
    assert r.code == 0, r.err
    cid = r.json()["id"]
    assert cid == "case-0001"
    sha = json.loads(sorted((filled_store / "receipts").glob("*.json"))[0].read_text())["entry"][
        "item"
    ]["sha256"]
    assert dalel("--store", filled_store, "case", "add-evidence", cid, sha[:12]).code == 0
    assert dalel("--store", filled_store, "case", "add-evidence", cid, "ffff").code == 2
    r = dalel(
        "--store",
        filled_store,
        "case",
        "set",
        cid,
        "--respondent",
        "УИК №101",
        "--facts",
        "Первый абзац.\n\nВторой абзац.",
        "--complainant-name",
        NAME,
        "--complainant-iin",
        VALID_IIN,
        "--complainant-phone",
        "+7 701 000 00 00",
    )
    assert r.code == 0, r.err
    bad = dalel("--store", filled_store, "case", "set", cid, "--complainant-iin", "123456789012")
    assert bad.code == 2
    shown = dalel("--store", filled_store, "case", "show", cid, "--json").json()
    assert shown["evidence"] == [sha] and shown["respondent"] == "УИК №101"
    assert shown["facts"] == ["Первый абзац.", "Второй абзац."]
    assert shown["has_complainant"] is True and NAME not in json.dumps(shown)
    assert shown["deadline"]["days_left"] == 10 and shown["deadline"]["counsel_must_confirm"]
    c = cases.complainant(Store.open(filled_store), cid)
    assert c is not None and c.name == NAME and c.iin == VALID_IIN
    # Nowhere in clear text: not in the log, index, receipts, the sealed file, an export.
    assert dalel("--store", filled_store, "export-audit", tmp_path / "b").code == 0
    for root in (filled_store, tmp_path / "b"):
        for p in root.rglob("*"):
            if p.is_file() and "objects" not in p.parts:
                data = p.read_bytes()
                assert NAME.encode() not in data and VALID_IIN.encode() not in data, p
    # A sealed file moved to another case does not open.
    store = Store.open(filled_store)
    cid2 = cases.new_case(store, precinct="101", kind="other")
    sealed = filled_store / "cases" / f"{cid}.complainant"
    (filled_store / "cases" / f"{cid2}.complainant").write_bytes(sealed.read_bytes())
    with pytest.raises(StoreCorrupt):
        cases.complainant(store, cid2)
    listed = dalel("--store", filled_store, "case", "list", "--json").json()
    assert [c["id"] for c in listed] == [cid, cid2]


def test_deadlines_by_urgency_warn_and_passed(store_dir, dalel):
    jur = deadlines.load_jurisdiction()
    today = deadlines.today_in(jur.timezone)
    for days_ago, kind in ((3, "voter-pressure"), (12, "carousel-voting"), (8, "other")):
        day = (today - timedelta(days=days_ago)).isoformat()
        assert (
            dalel(
                "--store",
                store_dir,
                "case",
                "new",
                "--precinct",
                "5",
                "--kind",
                kind,
                "--event-date",
                day,
            ).code
            == 0
        )
    rows = dalel("--store", store_dir, "deadlines", "--json").json()
    assert [r["kind"] for r in rows] == ["carousel-voting", "other", "voter-pressure"]
    assert rows[0]["passed"] is True and rows[0]["days_left"] == -2
    assert rows[1]["warning"] is True and rows[1]["days_left"] == 2
    assert rows[2]["warning"] is False and rows[2]["days_left"] == 7
    human = dalel("--store", store_dir, "deadlines")
    assert "PASSED" in human.out and "2 day(s) left" in human.out


def test_official_import_keeps_good_rows_and_names_bad_ones(store_dir, tmp_path, dalel):
    f = tmp_path / "official.csv"
    f.write_text(
        "precinct,field,value\n12,voters_on_list,1840\n12,amanat,611\n"
        "12,no_such,5\n12,osdp,-3\n13\n12,amanat,612\n",
        encoding="utf-8",
    )
    r = dalel("--store", store_dir, "official", "import", f, "--json")
    assert r.code == 3
    data = r.json()
    assert data["rows"] == 2
    assert [b["line"] for b in data["bad_rows"]] == [4, 5, 6, 7]
    f.write_text("precinct,field,value\n12,voters_on_list,1900\n", encoding="utf-8")
    assert dalel("--store", store_dir, "official", "import", f).code == 0
    imports = _entries(store_dir, "official-import")
    assert len(imports) == 2 and imports[1]["replaces"] == imports[0]["seq"]
    f.write_text("no header here\n", encoding="utf-8")
    assert dalel("--store", store_dir, "official", "import", f).code == 2


def test_discrepancy_to_case(store_dir, tmp_path, dalel):
    # the sheet names the precinct it is filed under (another's would not be counted)
    s = make_sample(4, 5, tier="clean", script="typed", layout="table", adds_up=True, precinct=31)
    photo = tmp_path / "protocols" / f"p31.{s.ext}"
    photo.parent.mkdir()
    photo.write_bytes(s.image)
    r = dalel(
        "--store",
        store_dir,
        "run",
        photo.parent,
        "--observer",
        VALID_IIN,
        "--precinct",
        "31",
        "--kind",
        "protocol",
    )
    assert r.code == 0, r.err
    sha = _entries(store_dir, "ingest")[0]["item"]["sha256"]
    assert (
        dalel(
            "--store",
            store_dir,
            "figures",
            "confirm",
            "--item",
            sha,
            "--field",
            "amanat",
            "--value",
            "700",
            "--by",
            "lawyer",
        ).code
        == 0
    )
    csv = tmp_path / "off.csv"
    csv.write_text("precinct,field,value\n31,amanat,650\n", encoding="utf-8")
    assert dalel("--store", store_dir, "official", "import", csv).code == 0
    rows = dalel("--store", store_dir, "discrepancies", "--json").json()
    amanat = [r for r in rows if r["field"] == "amanat"]
    assert amanat == [
        {
            "precinct": "31",
            "field": "amanat",
            "protocol": 700,
            "official": 650,
            "difference": 50,
            "source": "confirmed",
            "items": [sha],
            "photos_disagree": False,
            "precinct_mismatch": [],
        }
    ]
    r = dalel("--store", store_dir, "case", "new", "--from-discrepancy", "31", "--json")
    assert r.code == 0, r.err
    shown = dalel("--store", store_dir, "case", "show", r.json()["id"], "--json").json()
    assert shown["kind"] == "protocol-figures" and shown["evidence"] == [sha]
    assert shown["from_discrepancy"] is True
    assert "amanat" in dalel("--store", store_dir, "discrepancies").out
    assert date.fromisoformat(shown["event_date"]) == deadlines.today_in("Asia/Almaty")
