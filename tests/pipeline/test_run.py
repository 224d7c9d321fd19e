"""`dalel run`: every stage over a folder; running it again adds nothing; manifest.csv."""

from __future__ import annotations

import json
from pathlib import Path

from evidence.storage.store import Store
from pipeline import order
from pipeline.stages import Item, StageResult, Status
from tests.conftest import OTHER_IIN, VALID_IIN, make_photo


def log_entries(store_dir: Path) -> list[dict]:
    return [
        json.loads(ln)["entry"]
        for ln in (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    ]


def test_run_twice_over_the_same_folder_adds_nothing(store_dir, inbox, dalel):
    r1 = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "3", "--json"
    )
    assert r1.code == 0 and r1.json()["summary"]["stored"] == 3
    before = (store_dir / "log" / "custody.jsonl").read_bytes()
    r2 = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "3", "--json"
    )
    assert r2.code == 0 and r2.json()["summary"] == {
        **r2.json()["summary"],
        "stored": 0,
        "skipped": 3,
    }
    assert (store_dir / "log" / "custody.jsonl").read_bytes() == before
    # A new file in the folder is the only thing added.
    make_photo(inbox / "late.jpg", (1, 2, 3))
    r3 = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "3", "--json"
    )
    assert r3.json()["summary"]["stored"] == 1
    # `ingest` of the same file, by contrast, records it as received again.
    r4 = dalel(
        "--store",
        store_dir,
        "ingest",
        inbox / "late.jpg",
        "--observer",
        VALID_IIN,
        "--precinct",
        "3",
        "--json",
    )
    assert r4.json()["summary"]["stored"] == 1
    last_ingest = [e for e in log_entries(store_dir) if e["event"] == "ingest"][-1]
    assert "received_again" in last_ingest


def test_manifest_overrides_the_flags_per_file(store_dir, inbox, dalel):
    (inbox / "manifest.csv").write_text(
        "file,observer,precinct,kind,channel,note\n"
        f"protocol-1.jpg,{OTHER_IIN},77,protocol,telegram,copy handed over at 22:40\n"
        "violations/stuffing.jpg,,,violation,,stuffing at 19:12\n"
        "protocol-2.jpg,,,bogus-kind,,\n",
        encoding="utf-8",
    )
    r = dalel(
        "--store", store_dir, "run", inbox, "--observer", VALID_IIN, "--precinct", "3", "--json"
    )
    assert r.code == 3  # the row with a bad kind is refused
    entries = {e["path"]: e for e in log_entries(store_dir) if "path" in e}
    p1 = entries["protocol-1.jpg"]
    assert (p1["precinct"], p1["kind"], p1["channel"]) == ("77", "protocol", "telegram")
    assert p1["note"] == "copy handed over at 22:40"
    s = entries["violations/stuffing.jpg"]
    assert (s["precinct"], s["kind"], s["note"]) == ("3", "violation", "stuffing at 19:12")
    assert p1["actor"]["id"] != s["actor"]["id"]  # two observers, two pseudonyms
    assert entries["protocol-2.jpg"]["event"] == "refused"
    assert entries["protocol-2.jpg"]["reason"] == "MANIFEST_ROW_INVALID"
    assert "manifest.csv" not in entries


def test_item_stages_run_in_order_over_every_new_item(store_dir, inbox, monkeypatch):
    seen: list[tuple[str, str]] = []

    class Probe:
        def __init__(self, name):
            self.name = name

        def run(self, item: Item, ctx) -> StageResult:
            seen.append((self.name, item.sha256))
            return StageResult(self.name, item.sha256, Status.DONE, item=item)

    monkeypatch.setattr(order, "ITEM_STAGES", (Probe("first"), Probe("second")))
    from pipeline.run import run_batch
    from pipeline.stages import Submission

    batch = run_batch(
        Store.open(store_dir),
        [inbox],
        Submission(Path("."), "", "obs", "1", "protocol"),
        dedupe=True,
    )
    assert [n for n, _ in seen] == ["first", "second"] * 3
    assert len(batch.of(Status.DONE, "second")) == 3
