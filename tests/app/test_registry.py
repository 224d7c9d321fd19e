"""The precinct registry: bad rows named by line with the good rows kept, the CSV stored and
its import logged, the latest import winning, and files that are not a registry refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import registry
from base.errors import UsageError
from evidence.storage.store import Store

HEADER = "number,region,district,address,latitude,longitude\n"


@pytest.fixture
def store(tmp_path: Path, dalel) -> Store:
    assert dalel("--store", tmp_path / "s", "init", "--org", "Coalition").code == 0
    return Store.open(tmp_path / "s")


def _imports(store: Store) -> list[dict]:
    entries = [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]
    return [e for e in entries if e["event"] == "precinct-import"]


def test_bad_rows_are_named_by_line_and_good_rows_kept() -> None:
    data = (
        HEADER
        + '31,Алматы қаласы,Бостандық ауданы,"Әл-Фараби д., 71",43.222,76.925\n'  # line 2
        + "32,Алматы қаласы,Медеу ауданы,Абай д. 1,,\n"  # 3: no place, still good
        + "33,,Ауыл,Мектеп,,\n"  # 4: no region
        + "31,Астана,Есіл,Мектеп,,\n"  # 5: twice
        + "34,Астана,Есіл,Мектеп,91,10\n"  # 6: latitude out of range
        + "IIN 900101300123,Астана,Есіл,Мектеп,,\n"  # 7: not a precinct number
        + "35,Астана\n"  # 8: short
        + "\n"  # 9: blank lines are skipped, not bad
        + "36,Астана,Есіл,Мектеп,51.1,71.4\n"  # 10
    )
    r = registry.parse(data.encode("utf-8"))
    assert sorted(r.precincts) == ["31", "32", "36"]
    assert r.precincts["31"].address == "Әл-Фараби д., 71"
    assert (r.precincts["31"].lat, r.precincts["31"].lon) == (43.222, 76.925)
    assert r.precincts["32"].lat is None and r.precincts["32"].region == "Алматы қаласы"
    assert [(b.line, b.reason) for b in r.bad_rows] == [
        (4, "no region"),
        (5, "precinct 31 given twice"),
        (6, "latitude or longitude is not a number in range"),
        (7, "the precinct number is not a precinct number"),
        (8, "fewer than six columns"),
    ]
    assert r.exit_code != 0
    assert r.to_dict()["precincts"] == 3 and r.to_dict()["regions"] == 2


def test_import_stores_the_csv_logs_it_and_the_latest_wins(store: Store, dalel, tmp_path):
    assert registry.current(store) is None
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "31,Алматы қаласы,Бостандық,Мектеп,,\n", encoding="utf-8")
    out = dalel("--store", store.root, "precinct", "import", first, "--json")
    assert out.code == 0, out.err
    assert out.json() == {"precincts": 1, "regions": 1, "bad_rows": []}
    second = tmp_path / "second.csv"
    second.write_text(
        HEADER + "31,Батыс Қазақстан облысы,Орал,Мектеп,,\n32,Астана,Есіл,Мектеп,,\nx\n",
        encoding="utf-8",
    )
    out = dalel("--store", store.root, "precinct", "import", second, "--json")
    assert out.code != 0  # a bad row makes the exit code say so; the good rows are in
    assert out.json()["bad_rows"] == [{"line": 4, "reason": "fewer than six columns"}]
    store = Store.open(store.root)
    current = registry.current(store)
    assert current is not None and sorted(current.precincts) == ["31", "32"]
    assert current.precincts["31"].region == "Батыс Қазақстан облысы"
    one, two = _imports(store)
    assert two["replaces"] == one["seq"] and one["replaces"] is None
    assert two["rows"] == 2 and two["bad_rows"] == [{"line": 4, "reason": "fewer than six columns"}]
    with store.objects.open(two["subject"]) as f:
        assert f.read() == second.read_bytes()  # the file itself is kept, byte for byte


def test_files_that_are_not_a_registry_are_refused_without_logging(store: Store) -> None:
    with pytest.raises(UsageError, match="header"):
        registry.import_csv(store, b"precinct,field,value\n31,x,1\n")
    with pytest.raises(UsageError, match="UTF-8"):
        registry.import_csv(store, HEADER.encode() + "31,Алматы,,,,\n".encode("cp1251"))
    with pytest.raises(UsageError, match="no good row"):
        registry.import_csv(store, (HEADER + "31,,,,,\n").encode())
    assert _imports(store) == [] and registry.current(store) is None


def test_a_registry_object_changed_on_disk_is_refused_not_read(store: Store, tmp_path) -> None:
    """The registry feeds the GPS check and the results: a stored CSV changed behind the
    store's back is refused (run audit), and ingest then knows no place for the precinct."""
    from pipeline import registry as stored

    data = (HEADER + "31,Алматы қаласы,Бостандық,Мектеп,43.2,76.9\n").encode()
    made = registry.import_csv(store, data)
    assert made.precincts["31"].lat == 43.2
    sha = _imports(store)[-1]["subject"]
    obj = next(p for p in (store.root / "objects").rglob(sha[2:] + "*") if p.is_file())
    obj.chmod(0o644)
    obj.write_bytes(data.replace(b"43.2", b"51.2"))
    stored._PARSED.clear()
    store = Store.open(store.root)  # (an index that has seen the import)
    store.index.catch_up()
    with pytest.raises(UsageError, match="no longer matches its hash"):
        registry.current(store)
    assert registry.location(store, "31") is None
