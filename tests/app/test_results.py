"""The alternative-results table: a confirmed figure beats an accepted one, photos that disagree
give none, differences against the official results, turnout from the form's keys, coverage
against the registry (or the official results without one), regions with a precinct the
registry does not list under none; the table follows new entries precinct by precinct as a
table made from the log alone would; the CSV and JSON export; the SVG charts.

The photos are real ingested items; their readings are ``ocr`` entries appended as the stage
records them, with figures chosen here (tests/web/test_ws_api.py reads real photos with the
real reader).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import ocr
from app import figures, official, registry
from app import results as alt
from evidence.storage.store import Store
from tests.conftest import VALID_IIN, make_photo
from web.workspace import charts

FORM = ocr.load_form("kz-mazhilis-party-list-2023")
SVG = "{http://www.w3.org/2000/svg}"
BASE = {
    "voters_on_list": 1000,
    "ballots_received": 700,
    "ballots_issued": 600,
    "voters_voted": 590,
    "ballots_invalid": 10,
    "ballots_cancelled": 100,
    "against_all": 20,
    "amanat": 300,
    "ak_zhol": 100,
    "auyl": 60,
    "respublica": 50,
    "baytak": 20,
    "people": 20,
    "osdp": 10,
}
REGISTRY = (
    "number,region,district,address,latitude,longitude\n"
    '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби д., 71",43.22,76.92\n'
    "32,Батыс Қазақстан облысы,Орал қаласы,Мектеп № 5,,\n"
    "34,Алматы қаласы,Медеу ауданы,Абай д. 1,,\n"
    '35,"=HYPERLINK(""http://x"")",Аудан,Мектеп,,\n'
)


def _read(store: Store, sha: str, precinct: str, values: dict[str, int], review=()) -> None:
    """An ``ocr`` entry for photo ``sha`` as the stage records it."""
    with store.writer() as w:
        w.append(
            {
                "event": "ocr",
                "subject": sha,
                "precinct": precinct,
                "kind": "protocol",
                "form": FORM.id,
                "engine": {},
                "perceptual_hash": None,
                "figures": {
                    k: {
                        "value": v,
                        "status": "review" if k in review else "accepted",
                        "confidence": 0.5 if k in review else 0.99,
                        "reason": "readings_disagree" if k in review else "readers_agree",
                    }
                    for k, v in values.items()
                },
                "relations": [],
                "problem": None,
                "objects": [],
            }
        )


def _official(store: Store, values: dict[str, dict[str, int]]) -> None:
    rows = ["precinct,field,value"]
    rows += [f"{p},{k},{v}" for p, fig in values.items() for k, v in fig.items()]
    official.import_csv(store, ("\n".join(rows) + "\n").encode())


@pytest.fixture
def world(tmp_path: Path, dalel) -> dict[str, Any]:
    """Precinct 31: read for sure, the official AMANAT 5 more and 50 more ballots issued;
    32: AMANAT in review and confirmed by a person, AK ZHOL accepted and a person read it
    otherwise; 33 (not in the registry): two photos that disagree on AMANAT; 34: official
    only; 35: in the registry only, its region a formula."""
    root = tmp_path / "store"
    assert dalel("--store", root, "init", "--org", "Coalition").code == 0
    shas = {}
    for n, (precinct, colour) in enumerate(
        [("31", (200, 0, 0)), ("32", (0, 200, 0)), ("33", (0, 0, 200)), ("33", (9, 9, 9))]
    ):
        photo = make_photo(tmp_path / "in" / f"p{n}.png", colour)
        r = dalel(
            *("--store", root, "ingest", photo, "--observer", VALID_IIN),
            *("--precinct", precinct, "--kind", "protocol"),
        )
        assert r.code == 0, r.err
        shas[n] = hashlib.sha256(photo.read_bytes()).hexdigest()
    store = Store.open(root)
    _read(store, shas[0], "31", BASE)
    _read(store, shas[1], "32", {**BASE, "amanat": 120}, review=("amanat",))
    _read(store, shas[2], "33", BASE)
    _read(store, shas[3], "33", {**BASE, "amanat": 310})
    figures.confirm(store, shas[1], "amanat", 125, "Әлия Сейітова")
    figures.confirm(store, shas[1], "ak_zhol", 101, "Әлия Сейітова")
    _official(
        store,
        {
            "31": {**BASE, "amanat": 305, "ballots_issued": 650},
            "32": {**BASE, "amanat": 125, "ak_zhol": 101},
            "33": BASE,
            "34": BASE,
        },
    )
    return {"store": store, "shas": shas, "tmp": tmp_path}


def _rows(r: alt.Results) -> dict[str, alt.PrecinctResult]:
    return {x.precinct: x for x in r.rows}


def test_the_table_without_a_registry(world) -> None:
    r = alt.results(world["store"])
    rows = _rows(r)
    assert not r.has_registry and r.has_official
    # all precincts: the official results' and the photos'
    assert set(rows) == {"31", "32", "33", "34"} and r.coverage == (3, 4)
    assert [g.region for g in r.regions] == [None]
    # a person's reading beats the machine's, in review or accepted
    assert rows["32"].protocol["amanat"] == 125 and rows["32"].protocol["ak_zhol"] == 101
    assert not rows["32"].differs
    # differences, protocol minus official
    assert rows["31"].difference("amanat") == -5 and rows["31"].difference("ballots_issued") == -50
    assert rows["31"].differs
    # photos that disagree give no figure, and say so
    assert rows["33"].protocol["amanat"] is None and rows["33"].photos_disagree == ("amanat",)
    assert rows["33"].photos == 2 and rows["34"].photos == 0 and rows["34"].protocol == {}
    # turnout: ballots issued over voters on the list, each side from its own figures
    assert rows["31"].turnout(rows["31"].protocol) == pytest.approx(0.6)
    assert rows["31"].turnout(rows["31"].official) == pytest.approx(0.65)
    assert rows["34"].turnout(rows["34"].protocol) is None
    # precincts that differ first
    assert r.rows[0].precinct == "31"
    # totals compare the same precincts: 33's AMANAT is not known on the protocol side
    assert r.totals("amanat") == (300 + 125, 305 + 125)


def test_regions_coverage_and_a_precinct_the_registry_does_not_list(world) -> None:
    store = world["store"]
    registry.import_csv(store, REGISTRY.encode())
    r = alt.results(store)
    rows = _rows(r)
    assert r.has_registry
    assert set(rows) == {"31", "32", "33", "34", "35"} and r.coverage == (3, 5)
    assert (rows["31"].region, rows["31"].district) == ("Алматы қаласы", "Бостандық ауданы")
    assert rows["33"].region is None  # has photos, absent from the registry
    regions = {g.region: g for g in r.regions}
    assert (regions["Алматы қаласы"].precincts, regions["Алматы қаласы"].with_photo) == (2, 1)
    assert regions["Алматы қаласы"].differing == 1
    assert regions[None].precincts == 1 and regions[None].with_photo == 1
    assert r.regions[-1].region is None  # "region unknown" last
    # the latest registry wins
    registry.import_csv(
        store, b"number,region,district,address,latitude,longitude\n31,Astana,Esil,,,\n"
    )
    rows = _rows(alt.results(store))
    assert rows["31"].region == "Astana" and rows["32"].region is None
    assert alt.results(store).coverage == (3, 4)  # 31 in the registry; 32, 33 with photos; 34


def test_the_table_follows_new_entries_as_one_made_from_the_log_alone(world) -> None:
    store, shas = world["store"], world["shas"]
    before = alt.results(store).to_dict()
    assert _rows(alt.results(store))["31"].protocol["amanat"] == 300
    figures.confirm(store, shas[0], "amanat", 305, "Reviewer")  # 31 agrees with the official now
    _read(store, shas[3], "33", BASE)  # 33's second photo read again: the photos agree
    after = alt.results(store)
    rows = _rows(after)
    assert rows["31"].protocol["amanat"] == 305 and rows["31"].difference("amanat") == 0
    assert rows["33"].protocol["amanat"] == 300 and rows["33"].photos_disagree == ()
    assert after.to_dict() != before
    kept = after.to_dict()
    alt.forget()
    assert alt.results(store).to_dict() == kept  # made again from the log: the same table


def test_a_photo_read_again_under_another_precinct_moves_there(world) -> None:
    store, shas = world["store"], world["shas"]
    alt.results(store)
    _read(store, shas[3], "34", BASE)
    kept = alt.results(store).to_dict()
    rows = {r["precinct"]: r for r in kept["rows"]}
    assert rows["34"]["photos"] == 1 and rows["33"]["photos"] == 1
    alt.forget()
    assert alt.results(store).to_dict() == kept


def test_json_and_csv_export(world) -> None:
    store = world["store"]
    registry.import_csv(store, REGISTRY.encode())
    r = alt.results(store)
    data = json.loads(json.dumps(r.to_dict()))  # JSON-ready
    assert data["coverage"] == {"with_photo": 3, "precincts": 5}
    assert data["totals"]["amanat"] == {"protocol": 425, "official": 430}
    assert set(data["totals"]) == set(FORM.groups["parties"])
    cols = r.columns()
    assert cols[:4] == ["precinct", "region", "district", "photos"]
    assert cols[-2:] == ["turnout_protocol", "turnout_official"]
    assert len(cols) == 4 + 3 * len(FORM.keys) + 2
    rows = {x["precinct"]: x for x in data["rows"]}
    assert all(list(x) == cols for x in data["rows"])
    assert rows["31"]["amanat_protocol"] == 300 and rows["31"]["amanat_official"] == 305
    assert rows["31"]["amanat_difference"] == -5 and rows["31"]["turnout_official"] == 0.65
    assert rows["35"]["amanat_protocol"] is None and rows["35"]["region"].startswith("=")
    text = r.to_csv()
    assert text.startswith(",".join(cols) + "\r\n")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 5 and list(table[0]) == cols
    by = {x["precinct"]: x for x in table}
    assert by["35"]["region"] == '\'=HYPERLINK("http://x")'  # no formula for a spreadsheet
    assert by["31"]["amanat_difference"] == "-5"  # a number stays a number
    assert by["31"]["region"] == "Алматы қаласы" and by["35"]["amanat_protocol"] == ""
    text.encode("utf-8")
    # no personal data: no observer, no reviewer, no photo hash
    out = text + json.dumps(data, ensure_ascii=False)
    for private in ("Әлия", "Reviewer", "usr-", "obs-", VALID_IIN, *world["shas"].values()):
        assert private not in out, private


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_bars_are_proportional_signed_and_their_labels_escaped() -> None:
    svg = charts.bars(
        "Official − protocol <b>", [("AMANAT & co", 40), ("<script>x</script>", -20), ("Қ", 10)]
    )
    root = _parse(svg)  # well-formed
    assert root.tag == SVG + "svg" and root.find(SVG + "title").text == "Official − protocol <b>"
    bars = root.findall(f"{SVG}rect[@class='bar']")
    widths = [float(b.get("width")) for b in bars]
    assert [int(b.get("data-value")) for b in bars] == [40, -20, 10]
    # each bar's length is its value over the largest, of the same span (rounded to a pixel)
    for w, v in zip(widths, (40, 20, 10), strict=True):
        assert w == pytest.approx(v / 40 * widths[0], abs=0.5)
    axis = float(root.find(SVG + "line").get("x1"))
    assert float(bars[0].get("x")) == axis  # positive: right of the axis
    assert float(bars[1].get("x")) + widths[1] == pytest.approx(axis)  # negative: left
    labels = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert "<script>x</script><script>x</script>" in labels  # escaped: text, not markup
    assert "<script>" not in svg and "&amp;" in svg
    unsigned = _parse(charts.bars("t", [("a", 3), ("b", 6)]))
    w = [float(b.get("width")) for b in unsigned.findall(f"{SVG}rect[@class='bar']")]
    assert w[1] == pytest.approx(charts.PLOT) and w[0] == pytest.approx(charts.PLOT / 2, abs=1)
    empty = _parse(charts.bars("t", [], empty="Әзірге дерек жоқ."))
    assert "Әзірге дерек жоқ." in "".join(empty.itertext())


def test_the_turnout_histogram_counts_each_series_in_its_bins() -> None:
    root = _parse(
        charts.histogram("Turnout", [("protocol", [0.05, 0.55, 0.56, 1.0]), ("official", [0.57])])
    )
    bars = root.findall(f"{SVG}rect[@class='bar']")
    assert len(bars) == 20  # 10 bins, two series
    counts = [int(b.get("data-value")) for b in bars]
    assert counts[0::2] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1]  # 1.0 goes in the last bin
    assert counts[1::2] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    heights = [float(b.get("height")) for b in bars]
    assert heights[10] == pytest.approx(2 * heights[0], abs=1)  # 2 vs 1
    assert heights[11] == pytest.approx(heights[0], abs=1)


def test_every_word_has_russian_kazakh_and_english() -> None:
    words = json.loads(
        (Path(__file__).resolve().parents[2] / "web/workspace/i18n/results.json").read_text()
    )
    assert all(k.startswith("results.") for k in words)
    for key, t in words.items():
        assert set(t) == {"ru", "kk", "en"} and all(t.values()), key
    kazakh = "".join(t["kk"] for t in words.values())
    assert set("әғқңөұүі") <= set(kazakh)
