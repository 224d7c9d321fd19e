"""manifest.csv rows that cannot be right are refused by name, never passed in silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import VALID_IIN, make_photo


def _ingest(dalel, store: Path, folder: Path):
    return dalel(
        "--store", store, "ingest", folder, "--observer", VALID_IIN, "--precinct", "7", "--json"
    )  # fmt: skip


@pytest.fixture
def setup(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    folder = tmp_path / "in"
    make_photo(folder / "a.jpg", (1, 2, 3))
    make_photo(folder / "b.jpg", (4, 5, 6))
    return store, folder


def _intake(r) -> dict[str, dict]:
    return {x["subject"]: x for x in r.json()["results"] if x["stage"] == "intake"}


def test_a_row_naming_a_file_outside_the_folder_is_refused_and_not_read(dalel, setup):
    store, folder = setup
    (folder / "manifest.csv").write_text(
        "file,precinct\na.jpg,12\n../../etc/passwd,12\nmissing.jpg,12\n", encoding="utf-8"
    )
    r = _ingest(dalel, store, folder)
    got = _intake(r)
    assert got["a.jpg"]["status"] == "done" and got["b.jpg"]["status"] == "done"
    for name, line in (("../../etc/passwd", 3), ("missing.jpg", 4)):
        assert got[name]["status"] == "refused"
        assert got[name]["reason"] == "NOT_IN_FOLDER"
        assert f"line {line}" in got[name]["detail"]
    assert r.code == 3
    passwd = Path("/etc/passwd").read_bytes()
    for p in (store / "quarantine").rglob("*"):
        assert not p.is_file() or passwd not in p.read_bytes()
    assert dalel("--store", store, "audit").code == 0


def test_a_file_listed_twice_is_refused_with_both_lines(dalel, setup):
    store, folder = setup
    (folder / "manifest.csv").write_text(
        "file,precinct\na.jpg,12\nb.jpg,13\na.jpg,14\n", encoding="utf-8"
    )
    r = _ingest(dalel, store, folder)
    got = _intake(r)
    assert got["a.jpg"]["status"] == "refused"
    assert "twice (lines 2 and 4)" in got["a.jpg"]["detail"]
    assert got["b.jpg"]["status"] == "done"
    assert r.code == 3


@pytest.mark.parametrize(
    "header, says",
    [("name,precinct", "without a 'file' column"), ("file,precint", "'precint' are unknown")],
)
def test_a_wrong_header_stops_before_anything_is_stored(dalel, setup, header, says):
    store, folder = setup
    (folder / "manifest.csv").write_text(f"{header}\na.jpg,12\n", encoding="utf-8")
    r = _ingest(dalel, store, folder)
    assert r.code == 2 and says in r.err, r.err
    assert "Traceback" not in r.err
    assert not (store / "receipts").exists() or not list((store / "receipts").glob("*.json"))
