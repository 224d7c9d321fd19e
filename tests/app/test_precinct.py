"""A protocol photo whose sheet shows another precinct's number than the one it was filed
under is flagged PRECINCT_MISMATCH in `figures show` and `discrepancies`, and its figures are
not counted for the filed precinct until a person reads the number on the sheet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app import figures, precinct
from evidence.storage.store import Store
from ocr.synth import make_sample
from tests.conftest import VALID_IIN
from tests.ocr.test_precinct import _smudged

pytestmark = pytest.mark.slow


def _photo(folder: Path, name: str, index: int, on_sheet: int, header: str) -> tuple[Path, dict]:
    s = make_sample(
        index,
        4242,
        tier="clean",
        script="typed",
        layout="table",
        adds_up=True,
        precinct=on_sheet,
        header=header,
    )
    p = folder / f"{name}.{s.ext}"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(s.image)
    return p, s.truth


def _ingest(dalel, store: Path, photo: Path, filed: str) -> str:
    r = dalel(
        *("--store", store, "ingest", photo, "--observer", VALID_IIN),
        *("--precinct", filed, "--kind", "protocol"),
    )
    assert r.code == 0, r.err
    return hashlib.sha256(photo.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def three_precincts(tmp_path_factory):
    """Precinct 63: a sheet printed "Избирательный участок № 495"; 47: a sheet printed
    "№ 47 сайлау учаскесі"; 12: a sheet whose number is scribbled over. Official results with
    every figure one vote more than the sheets say."""
    from cli import main

    tmp = tmp_path_factory.mktemp("precincts")
    store = tmp / "store"
    assert main(["--store", str(store), "init"]) == 0
    other, truth_63 = _photo(tmp / "in", "other", 0, 495, "ru")
    same, truth_47 = _photo(tmp / "in", "same", 1, 47, "kk")
    blot = tmp / "in" / "blot.png"
    blot.write_bytes(_smudged(3, 12))
    return store, (other, truth_63), (same, truth_47), blot


def test_a_sheet_of_another_precinct_is_flagged_and_not_counted(three_precincts, dalel, tmp_path):
    store, (other, truth_63), (same, truth_47), blot = three_precincts
    sha_other = _ingest(dalel, store, other, "63")
    sha_same = _ingest(dalel, store, same, "47")
    sha_blot = _ingest(dalel, store, blot, "12")
    assert dalel("--store", store, "ocr").code == 0
    rows = ["precinct,field,value"]
    for p, truth in (("63", truth_63), ("47", truth_47)):
        rows += [f"{p},{k},{v + 1}" for k, v in truth["figures"].items()]
    (tmp_path / "off.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert dalel("--store", store, "official", "import", tmp_path / "off.csv").code == 0

    # the function the dossier calls
    st = Store.open(store)
    assert precinct.precinct_check(st, sha_other) == {
        "item": sha_other,
        "precinct_filed": "63",
        "precinct_on_sheet": "495",
        "status": "read",
        "mismatch": True,
        "flags": ["PRECINCT_MISMATCH"],
        "machine": "495",
        "reason": "readers_agree",
        "by": None,
    }
    assert figures.precinct_check is precinct.precinct_check
    matching = figures.precinct_check(st, sha_same[:12])
    assert matching["precinct_on_sheet"] == "47" and matching["status"] == "read"
    assert matching["mismatch"] is False and matching["flags"] == []
    blotted = figures.precinct_check(st, sha_blot)
    assert blotted["precinct_on_sheet"] is None and blotted["status"] == "not_read"
    assert blotted["mismatch"] is False and blotted["flags"] == []

    # the reading record keeps what was read
    entries = [json.loads(ln)["entry"] for ln in (store / "log" / "custody.jsonl").open()]
    ocr_entries = {e["subject"]: e for e in entries if e["event"] == "ocr"}
    assert ocr_entries[sha_other]["precinct_on_sheet"] == 495
    assert ocr_entries[sha_blot]["precinct_on_sheet"] is None
    crops = [o for o in ocr_entries[sha_other]["objects"] if o.get("field") == "precinct_on_sheet"]
    assert len(crops) == 1 and crops[0]["parent"] == sha_other

    # figures show: the flag on the photo, in JSON and in text
    (group,) = dalel("--store", store, "figures", "show", "--precinct", "63", "--json").json()
    (photo,) = group["photos"]
    assert photo["flags"] == ["PRECINCT_MISMATCH"] and photo["precinct_on_sheet"] == "495"
    assert [c["item"] for c in group["precinct_mismatch"]] == [sha_other]
    text = dalel("--store", store, "figures", "show", "--precinct", "63").out
    assert "PRECINCT_MISMATCH" in text and sha_other[:16] in text and "№ 495" in text
    for p in ("47", "12"):
        (group,) = dalel("--store", store, "figures", "show", "--precinct", p, "--json").json()
        assert group["photos"][0]["flags"] == [] and group["precinct_mismatch"] == []
        text = dalel("--store", store, "figures", "show", "--precinct", p).out
        assert "PRECINCT_MISMATCH" not in text
    (group,) = dalel("--store", store, "figures", "show", "--precinct", "12", "--json").json()
    assert group["photos"][0]["precinct_check"]["status"] == "not_read"

    # discrepancies: 63's figures are not counted, its rows name the photo; 47's are counted
    rows = dalel("--store", store, "discrepancies", "--json").json()
    by_precinct: dict[str, list[dict]] = {}
    for r in rows:
        by_precinct.setdefault(r["precinct"], []).append(r)
    assert by_precinct["63"], "the figures 495's sheet would have made differ are named"
    for r in by_precinct["63"]:
        assert r["protocol"] is None and r["difference"] is None
        assert r["precinct_mismatch"] == [
            {"item": sha_other, "precinct_on_sheet": "495", "status": "read"}
        ]
    assert by_precinct["47"] and all(r["difference"] == -1 for r in by_precinct["47"])
    assert all(r["precinct_mismatch"] == [] for r in by_precinct["47"])
    assert "12" not in by_precinct  # no official figures for it: nothing differs
    text = dalel("--store", store, "discrepancies").out
    assert "PRECINCT_MISMATCH" in text and sha_other[:16] in text
    assert "precinct № 495" in text  # the line under the table
    assert text.count("PRECINCT_MISMATCH") > len(by_precinct["63"])  # and each row's source

    # a person reads the number on the sheet as 63: no flag; the figures count
    r = dalel(
        *("--store", store, "figures", "confirm", "--item", sha_other[:12]),
        *("--field", "precinct_on_sheet", "--value", "63", "--by", "lawyer"),
    )
    assert r.code == 0, r.err
    check = figures.precinct_check(st, sha_other)
    assert check["status"] == "confirmed" and check["precinct_on_sheet"] == "63"
    assert check["machine"] == "495" and check["by"] == "lawyer" and not check["mismatch"]
    rows = dalel("--store", store, "discrepancies", "--precinct", "63", "--json").json()
    assert rows and all(r["difference"] == -1 and r["precinct_mismatch"] == [] for r in rows)
    # ... and a person reading another number keeps it flagged
    r = dalel(
        *("--store", store, "figures", "confirm", "--item", sha_same),
        *("--field", "precinct_on_sheet", "--value", "74", "--by", "lawyer"),
    )
    assert r.code == 0, r.err
    assert figures.precinct_check(st, sha_same)["flags"] == ["PRECINCT_MISMATCH"]
    assert "read by lawyer" in dalel("--store", store, "discrepancies").out


def test_a_dossier_names_a_sheet_of_another_precinct(tmp_path, dalel):
    """The dossier says it on the exhibit's page and over its figures table, in its language;
    a sheet of the filed precinct shows its number quietly."""
    import subprocess

    from tests.conftest import filing_details

    store = tmp_path / "store"
    assert dalel("--store", store, "init").code == 0
    other, _ = _photo(tmp_path / "in", "other", 0, 495, "ru")
    same, _ = _photo(tmp_path / "in", "same", 1, 63, "kk")
    sha_other = _ingest(dalel, store, other, "63")
    sha_same = _ingest(dalel, store, same, "63")
    assert dalel("--store", store, "ocr").code == 0
    r = dalel(
        *("--store", store, "case", "new", "--precinct", "63", "--kind", "protocol-figures"),
        "--json",
    )
    cid = r.json()["id"]
    assert dalel("--store", store, "case", "add-evidence", cid, sha_other, sha_same).code == 0
    assert dalel("--store", store, "case", "set", cid, *filing_details()).code == 0
    for lang, words in (
        ("ru", "PRECINCT_MISMATCH: на бланке участок № 495, а фото подано по участку № 63"),
        ("en", "PRECINCT_MISMATCH: the sheet shows precinct No. 495, but the photo was filed"),
    ):
        pdf = tmp_path / f"{lang}.pdf"
        r = dalel("--store", store, "dossier", "build", cid, "--out", pdf, "--lang", lang)
        assert r.code == 0, r.err
        text = " ".join(
            subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True).stdout.split()
        )
        # over the photo's figures table and on its exhibit page; the other photo: no flag
        assert text.count(words) == 2 and text.count("PRECINCT_MISMATCH") == 2, lang
    ru = " ".join(
        subprocess.run(
            ["pdftotext", tmp_path / "ru.pdf", "-"], capture_output=True, text=True
        ).stdout.split()
    )
    assert "Участок на бланке № 63" in ru  # the matching sheet: its number, no flag
    assert "№ 495" in ru
