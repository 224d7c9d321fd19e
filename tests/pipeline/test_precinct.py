"""A precinct is checked as a precinct: an IIN typed in its place is refused before anything is
read (on the command line) or refused without being kept (in a manifest row)."""

from __future__ import annotations

import pytest

from pipeline.registry import valid_precinct
from tests.conftest import VALID_IIN, make_photo


@pytest.mark.parametrize("good", ["7", "31", "101-A", "12/3", "А-15", "1234"])
def test_precinct_numbers_are_accepted(good):
    assert valid_precinct(good)


@pytest.mark.parametrize(
    "bad", [VALID_IIN, "870412 300416", "87041230041", "", " ", "-7", "x" * 17, "7;rm", "7\n8"]
)
def test_what_is_not_a_precinct_is_refused(bad):
    assert not valid_precinct(bad)


def test_an_iin_given_as_the_precinct_stops_ingest_and_is_kept_nowhere(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    photo = make_photo(tmp_path / "in" / "a.jpg")
    r = dalel("--store", store, "ingest", photo, "--observer", "obs-1", "--precinct", VALID_IIN)
    assert r.code == 2 and "not a precinct number" in r.err and VALID_IIN not in r.err
    (tmp_path / "in" / "manifest.csv").write_text(f"file,precinct\na.jpg,{VALID_IIN}\n")
    r = dalel(
        "--store", store, "ingest", tmp_path / "in", "--observer", "obs-1", "--precinct", "7",
        "--json",
    )  # fmt: skip
    (got,) = [x for x in r.json()["results"] if x["stage"] == "intake"]
    assert got["status"] == "refused" and got["reason"] == "PRECINCT_INVALID"
    for p in store.rglob("*"):
        if p.is_file():
            assert VALID_IIN.encode() not in p.read_bytes(), p


def test_a_case_title_holding_an_iin_is_scrubbed_and_its_precinct_checked(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    spaced = f"{VALID_IIN[:6]} {VALID_IIN[6:]}"
    r = dalel(
        "--store", store, "case", "new", "--precinct", "7", "--kind", "ballot-stuffing",
        "--event-date", "2026-12-01", "--title", f"Жалоба наблюдателя {spaced}",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = dalel("--store", store, "case", "show", "case-0001", "--json")
    assert r.json()["title"].startswith("Жалоба наблюдателя [obs-")
    r = dalel(
        "--store", store, "case", "new", "--precinct", VALID_IIN, "--kind", "ballot-stuffing",
        "--event-date", "2026-12-01",
    )  # fmt: skip
    assert r.code == 2 and "not a precinct number" in r.err
    for p in store.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert VALID_IIN.encode() not in data and spaced.encode() not in data, p
