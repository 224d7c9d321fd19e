"""The index is trusted for nothing but finding entries: an edit to index.sqlite changes
nothing a user, a court or an auditor is shown; it is refused with a named error, found by
the whole-index comparison, and mended by `reindex`."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from evidence.storage.index import IndexMismatch
from evidence.storage.index_schema import SCHEMA
from evidence.storage.store import Store
from tests.conftest import VALID_IIN, make_photo


@pytest.fixture(scope="module")
def case_template(tmp_path_factory) -> Path:
    """A store with three photos, a case holding two of them, whose respondent was set
    twice (the second value is the one in force)."""
    from cli import main

    tmp = tmp_path_factory.mktemp("index-trust")
    store = tmp / "store"

    def run(*args) -> None:
        assert main([str(a) for a in args]) == 0, args

    run("--store", store, "init", "--org", "Coalition")
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        make_photo(tmp / "in" / f"p{i}.jpg", colour)
    run("--store", store, "ingest", tmp / "in", "--observer", VALID_IIN, "--precinct", "7")
    shas = sorted(
        Store.open(store).index.items_where(), key=lambda r: r["first_seq"]
    )  # in log order
    run("--store", store, "case", "new", "--precinct", "7", "--kind", "other")
    run("--store", store, "case", "add-evidence", "case-0001", shas[0]["sha256"])
    run("--store", store, "case", "add-evidence", "case-0001", shas[1]["sha256"])
    run("--store", store, "case", "set", "case-0001", "--respondent", "Old Respondent")
    run("--store", store, "case", "set", "case-0001", "--respondent", "Commission No 7")
    return store


@pytest.fixture
def store(case_template, tmp_path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(case_template, dst)
    return dst


def _sql(store: Path, statement: str, *args) -> list[tuple]:
    with sqlite3.connect(store / "index.sqlite") as db:
        rows = db.execute(statement, args).fetchall()
        db.commit()
    return rows


def _shas(store: Path) -> list[str]:
    return [r[0] for r in _sql(store, "SELECT sha256 FROM items ORDER BY first_seq")]


def _mismatches(store: Path) -> list:
    return Store.open(store).index.mismatches()


def test_an_untouched_index_agrees_with_the_log(store, dalel):
    assert _mismatches(store) == []
    r = dalel("--store", store, "case", "show", "case-0001", "--json")
    assert r.code == 0 and r.json()["respondent"] == "Commission No 7"


def test_a_row_pointed_at_another_line_is_refused_on_read(store, dalel):
    """The respondent in force comes from the last case-set entry; pointing its row at the
    earlier one (hash and place copied) would show the old respondent."""
    sets = _sql(store, "SELECT seq, offset, length, line_hash FROM entries WHERE event='case-set'")
    (_, off, length, lh), (new_seq, *_) = sets
    _sql(
        store,
        "UPDATE entries SET offset=?, length=?, line_hash=? WHERE seq=?",
        off,
        length,
        lh,
        new_seq,
    )
    r = dalel("--store", store, "case", "show", "case-0001")
    assert r.code == 1
    assert "disagrees with the custody log" in r.err and "reindex" in r.err
    assert "Traceback" not in r.err + r.out
    assert any(m.seq == new_seq for m in _mismatches(store))


def test_a_changed_column_is_refused_on_read(store, dalel):
    sha = _shas(store)[0]
    _sql(store, "UPDATE entries SET precinct='999' WHERE subject=? AND event='ingest'", sha)
    r = dalel("--store", store, "show", sha)
    assert r.code == 1 and "precinct" in r.err and "reindex" in r.err
    with pytest.raises(IndexMismatch):
        Store.open(store).index.history(sha)


def test_a_hidden_entry_stops_the_dossier_and_is_found(store, dalel, tmp_path):
    """Renaming the newer case-set row's event hides it from every query (case show then
    shows the older respondent): only the whole-index comparison sees it, and the dossier
    build runs that comparison before anything reaches a court."""
    _sql(
        store,
        "UPDATE entries SET event='ocr' WHERE seq=(SELECT max(seq) FROM entries "
        "WHERE event='case-set')",
    )
    found = _mismatches(store)
    assert found and found[0].table == "entries" and "event" in found[0].detail
    r = dalel("--store", store, "dossier", "build", "case-0001", "--out", tmp_path / "d.pdf")
    assert r.code == 1 and "disagrees with the custody log" in r.err
    assert not (tmp_path / "d.pdf").exists()
    # Rebuilt from the log, everything is back.
    assert dalel("--store", store, "reindex").code == 0
    assert _mismatches(store) == []
    r = dalel("--store", store, "case", "show", "case-0001", "--json")
    assert r.json()["respondent"] == "Commission No 7"


@pytest.mark.parametrize(
    "attack, table",
    [
        ("DELETE FROM entries WHERE seq=1", "entries"),
        (
            "UPDATE items SET derived_from=sha256 "
            "WHERE first_seq=(SELECT min(first_seq) FROM items)",
            "items",
        ),
        ("UPDATE items SET size=1", "items"),
        (
            "INSERT INTO items VALUES ('"
            + "ab" * 32
            + "', 3, 'image/jpeg', '7', 'other', 0, NULL)",
            "items",
        ),
        ("DELETE FROM items WHERE first_seq=(SELECT max(first_seq) FROM items)", "items"),
        ("DELETE FROM tokens WHERE rowid=(SELECT min(rowid) FROM tokens)", "tokens"),
        (
            "INSERT INTO tokens SELECT * FROM tokens WHERE rowid=(SELECT min(rowid) FROM tokens)",
            "tokens",
        ),
        (
            "UPDATE tokens SET token_sha256='" + "cd" * 32 + "' "
            "WHERE rowid=(SELECT max(rowid) FROM tokens)",
            "tokens",
        ),
        ("UPDATE entries SET subject=NULL WHERE event='case-evidence'", "entries"),
    ],
)
def test_every_kind_of_edit_is_found_by_the_whole_comparison(store, attack, table):
    _sql(store, attack)
    found = _mismatches(store)
    assert found, attack
    assert found[0].table == table, found


def test_a_forged_item_row_is_not_known_evidence(store):
    """An item row for a hash the log never received names an entry that is no such item."""
    index = Store.open(store).index
    _sql(
        store,
        "INSERT INTO items VALUES (?, 3, 'image/jpeg', '7', 'protocol', 0, NULL)",
        "ef" * 32,
    )
    with pytest.raises(IndexMismatch):
        index.items_where()
    with pytest.raises(IndexMismatch):
        index.item("ef" * 32)


def test_an_index_behind_the_log_is_not_a_mismatch(store, tmp_path, dalel):
    """A writer indexes after it commits: rows missing at the end, beyond how far the index
    says it has read, are lag, caught up."""
    last = _sql(store, "SELECT max(seq) FROM entries")[0][0]
    (offset,) = _sql(store, "SELECT offset FROM entries WHERE seq=?", last - 2)[0]
    _sql(store, "UPDATE meta SET value=? WHERE key='log_bytes'", str(offset))
    _sql(store, "DELETE FROM entries WHERE seq>=?", last - 2)
    _sql(store, "DELETE FROM tokens WHERE seq>=?", last - 2)
    _sql(store, "DELETE FROM items WHERE first_seq>=?", last - 2)
    assert _mismatches(store) == []
    index = Store.open(store).index
    assert index.catch_up() == 3 and index.mismatches() == []


def test_an_index_of_the_old_layout_is_rebuilt_from_the_log(store, dalel):
    with sqlite3.connect(store / "index.sqlite") as db:
        db.execute("DROP TABLE entries")
        db.execute(
            "CREATE TABLE entries (seq INTEGER PRIMARY KEY, event TEXT, time TEXT, actor TEXT,"
            " subject TEXT, precinct TEXT, kind TEXT, line_hash TEXT, entry TEXT)"
        )
        db.execute("DELETE FROM meta")
    index = Store.open(store).index
    assert _sql(store, "SELECT value FROM meta WHERE key='schema'") == [(SCHEMA,)]
    assert index.catch_up() > 0 and index.mismatches() == []
    r = dalel("--store", store, "case", "show", "case-0001", "--json")
    assert r.code == 0 and r.json()["respondent"] == "Commission No 7"


def test_a_hash_prefix_is_taken_literally(store, dalel):
    """`show b_b`: an underscore or a percent sign matches only itself."""
    sha = _shas(store)[0]
    wild = sha[0] + "_" + sha[2]
    assert Store.open(store).index.find_by_prefix(wild) == []
    assert Store.open(store).index.find_by_prefix("%") == []
    assert Store.open(store).index.find_by_prefix(sha[:3]) == [sha]
    r = dalel("--store", store, "show", wild)
    assert r.code == 2 and "Traceback" not in r.err


def test_rows_deleted_at_the_end_are_not_taken_for_lag(store):
    """The index records how far it has read the log: rows deleted below that are gone,
    not waiting."""
    last = _sql(store, "SELECT max(seq) FROM entries")[0][0]
    _sql(store, "DELETE FROM entries WHERE seq>=?", last - 1)
    found = _mismatches(store)
    assert [m.seq for m in found if m.table == "entries"] == [last - 1, last]


def test_audit_compares_the_whole_index_with_the_log(store, dalel):
    """The edit that changes what `case show` prints (the respondent in force hidden by
    renaming its row) is an audit finding, INDEX_MISMATCH, exit 1; after `reindex` the audit
    is clean again."""
    assert dalel("--store", store, "audit").code == 0
    _sql(
        store,
        "UPDATE entries SET event='ocr' WHERE seq=(SELECT max(seq) FROM entries "
        "WHERE event='case-set')",
    )
    r = dalel("--store", store, "audit", "--json")
    assert r.code == 1
    found = [f for f in r.json()["findings"] if f["reason"] == "INDEX_MISMATCH"]
    assert len(found) == 1 and "event" in found[0]["detail"], r.json()["findings"]
    assert found[0]["item"].startswith("index entries, entry ")
    assert dalel("--store", store, "reindex").code == 0
    r = dalel("--store", store, "audit", "--json")
    assert r.code == 0 and not [f for f in r.json()["findings"] if f["reason"] == "INDEX_MISMATCH"]


def test_rows_for_entries_beyond_the_log_are_found(store):
    """An item row numbered past the end of the log belongs to no entry."""
    _sql(
        store,
        "INSERT INTO items VALUES (?, 3, 'image/jpeg', '7', 'protocol', 100000, NULL)",
        "ab" * 32,
    )
    found = _mismatches(store)
    assert [(m.table, m.seq) for m in found] == [("items", 100000)]


def test_an_index_that_is_not_a_database_is_a_finding_not_a_crash(store, dalel):
    (store / "index.sqlite").write_bytes(b"this is not a database" * 100)
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (store / extra).unlink(missing_ok=True)
    r = dalel("--store", store, "audit", "--json")
    assert r.code == 1
    found = [f for f in r.json()["findings"] if f["reason"] == "INDEX_MISMATCH"]
    assert len(found) == 1 and "cannot be read" in found[0]["detail"]


def test_an_index_being_made_by_another_process_is_never_dropped(store):
    """Between making the tables and writing its layout mark, another process's index has
    tables of this layout and no mark: opening the index then keeps every row (an audit
    reading it must not find its tables gone)."""
    before = _sql(store, "SELECT count(*) FROM entries")[0][0]
    assert before > 0
    with sqlite3.connect(store / "index.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key='schema'")
    index = Store.open(store).index
    assert _sql(store, "SELECT count(*) FROM entries")[0][0] == before
    assert _sql(store, "SELECT value FROM meta WHERE key='schema'") == [(SCHEMA,)]
    assert index.mismatches() == []


def test_processes_opening_a_new_index_at_once_all_read_it(store):
    """Six processes open the index of a store that has none, at the same moment, and
    compare it with the log: none fails, none finds a mismatch."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    for p in store.glob("index.sqlite*"):
        p.unlink()
    code = (
        "import sys; from pathlib import Path; from evidence.storage.store import Store\n"
        "idx = Store.open(Path(sys.argv[1])).index\n"
        "idx.catch_up(); assert idx.mismatches() == [], idx.mismatches()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(store)], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert Store.open(store).index.mismatches() == []
