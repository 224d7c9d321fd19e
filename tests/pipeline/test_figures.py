"""The `ocr` stage in the store, review commands, and photo-to-photo comparison."""

from __future__ import annotations

import json
from pathlib import Path

from app import figures as fg
from evidence import audit
from evidence.storage.store import Store
from ocr.synth.generate import make_sample
from tests.conftest import VALID_IIN


def _protocol(tmp_path: Path, name: str, index: int, seed: int = 5) -> Path:
    s = make_sample(index, seed, tier="clean", script="typed", layout="table", adds_up=True)
    p = tmp_path / "protocols" / f"{name}.{s.ext}"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(s.image)
    return p


def _entries(store_dir: Path, event: str) -> list[dict]:
    lines = (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    return [e for e in (json.loads(ln)["entry"] for ln in lines) if e["event"] == event]


def test_run_reads_protocols_as_derivative_records(store_dir, tmp_path, dalel):
    photo = _protocol(tmp_path, "p12", 1)
    r = dalel(
        "--store",
        store_dir,
        "run",
        photo.parent,
        "--observer",
        VALID_IIN,
        "--precinct",
        "12",
        "--kind",
        "protocol",
        "--json",
    )
    assert r.code == 0, r.err
    ocr_results = [x for x in r.json()["results"] if x["stage"] == "ocr"]
    assert len(ocr_results) == 1 and ocr_results[0]["status"] == "done"
    (entry,) = _entries(store_dir, "ocr")
    store = Store.open(store_dir)
    ingest = _entries(store_dir, "ingest")[0]
    assert entry["subject"] == ingest["item"]["sha256"]
    assert entry["form"] == "kz-mazhilis-party-list-2023" and entry["engine"]
    roles = [o["role"] for o in entry["objects"]]
    assert roles.count("reading") == 1 and roles.count("crop") >= 1
    for o in entry["objects"]:
        assert o["parent"] == entry["subject"] and store.objects.exists(o["sha256"])
    reading = json.loads(store.objects.read(entry["objects"][0]["sha256"]))
    assert reading["image_sha256"] == entry["subject"]
    assert set(reading["fields"]) == set(entry["figures"])
    assert audit.run(audit.StoreSource(store)).ok
    # idempotent: another `ocr` run reads nothing again
    again = dalel("--store", store_dir, "ocr", "--json")
    assert again.code == 0 and [x["status"] for x in again.json()] == ["skipped"]
    assert len(_entries(store_dir, "ocr")) == 1


def test_confirm_records_a_person_beside_the_machine(store_dir, tmp_path, dalel):
    photo = _protocol(tmp_path, "p7", 2)
    dalel(
        "--store",
        store_dir,
        "ingest",
        photo,
        "--observer",
        "obs-1",
        "--precinct",
        "7",
        "--kind",
        "protocol",
    )
    assert dalel("--store", store_dir, "ocr", "--precinct", "7").code == 0
    sha = _entries(store_dir, "ingest")[0]["item"]["sha256"]
    r = dalel(
        "--store",
        store_dir,
        "figures",
        "confirm",
        "--item",
        sha[:12],
        "--field",
        "voters_voted",
        "--value",
        "777",
        "--by",
        "lawyer-aigerim",
    )
    assert r.code == 0, r.err
    (c,) = _entries(store_dir, "confirm")
    machine = _entries(store_dir, "ocr")[0]["figures"]["voters_voted"]
    assert c["machine"] == machine and c["value"] == 777
    assert c["actor"] == {"role": "reviewer", "id": "lawyer-aigerim"}
    shown = dalel("--store", store_dir, "figures", "show", "--precinct", "7", "--json").json()
    fig = shown[0]["photos"][0]["figures"]["voters_voted"]
    assert fig["value"] == 777 and fig["source"] == "confirmed"
    assert fig["machine_value"] == machine["value"]  # the machine's reading is kept
    assert (
        dalel(
            "--store",
            store_dir,
            "figures",
            "confirm",
            "--item",
            sha,
            "--field",
            "no_such_field",
            "--value",
            "1",
            "--by",
            "x",
        ).code
        == 2
    )
    human = dalel("--store", store_dir, "figures", "show", "--precinct", "7")
    assert human.code == 0 and "voters_voted" in human.out


def _photo(item: str, values: dict[str, int | None], phash: str = "0" * 16):
    figs = {
        k: fg.Figure(k, v, "accepted" if v is not None else "unreadable", 0.99)
        for k, v in values.items()
    }
    return fg.ProtocolFigures(item, "12", "f", 1, phash, figs, (), None)


def test_photos_of_one_protocol_corroborate_or_flag_substitution():
    a = _photo("a" * 64, {"voters_voted": 500, "amanat": 300, "osdp": None})
    b = _photo("b" * 64, {"voters_voted": 500, "amanat": 300, "osdp": 20}, "0" * 15 + "f")
    (g,) = fg.group([a, b])
    assert g.corroborated == {"voters_voted": 2, "amanat": 2}
    assert not g.substitution_suspected
    assert g.same_sheet_pairs == (("a" * 64, "b" * 64),)
    c = _photo("c" * 64, {"voters_voted": 500, "amanat": 410, "osdp": 20}, "f" * 16)
    (g,) = fg.group([a, b, c])
    assert g.substitution_suspected
    (d,) = g.disagreements
    assert d.field == "amanat" and d.values == {"a" * 64: 300, "b" * 64: 300, "c" * 64: 410}
    assert ("a" * 64, "c" * 64) not in g.same_sheet_pairs


def test_ocr_image_json_has_every_key_of_the_form(tmp_path, dalel):
    photo = _protocol(tmp_path, "one", 3)
    r = dalel("ocr-image", photo, "--form", "kz-mazhilis-party-list-2023", "--json")
    assert r.code == 0, r.err
    data = r.json()
    import ocr

    form = ocr.load_form("kz-mazhilis-party-list-2023")
    assert set(data["fields"]) == set(form.keys)
    assert dalel("ocr-image", photo, "--form", "no-such-form").code == 2
    table = dalel("ocr-image", photo, "--form", "kz-mazhilis-party-list-2023")
    assert table.code == 0 and "voters_on_list" in table.out
