"""The store: creation, write-once objects, dedupe, privacy, index, export."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from base.errors import StoreExists
from evidence import audit
from evidence.provision import init_store
from evidence.storage.index import Index
from evidence.storage.store import Store
from tests.conftest import OTHER_IIN, VALID_IIN, lose_index, make_photo


def test_init_creates_layout_and_private_keys(store_dir):
    for d in ("objects", "log/checkpoints", "receipts", "quarantine", "public", "keys"):
        assert (store_dir / d).is_dir(), d
    for f in (store_dir / "keys").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE((store_dir / "keys").stat().st_mode) == 0o700
    store = Store.open(store_dir)
    assert store.public_key() == store.log_key.public
    assert "Test Coalition" in (store_dir / "config.toml").read_text()
    # openssl reads the PEM public key
    out = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", store_dir / "public" / "log.pem", "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ED25519" in out


def test_init_refuses_an_existing_store(store_dir, dalel):
    before = sorted(p.name for p in store_dir.rglob("*"))
    with pytest.raises(StoreExists):
        init_store(store_dir)
    r = dalel("--store", store_dir, "init")
    assert r.code == 2 and "already exists" in r.err
    assert sorted(p.name for p in store_dir.rglob("*")) == before


def test_missing_store_is_a_usage_error_with_a_fix(tmp_path, dalel):
    r = dalel("--store", tmp_path / "nope", "audit")
    assert r.code == 2 and "dalel --store" in r.err and "init" in r.err


def test_objects_are_read_only_and_named_by_hash(filled_store, backend):
    import hashlib

    store = Store.open(filled_store)
    shas = list(store.objects.list())
    assert len(shas) == 3 + 5  # three photos; tokens for them and for two checkpoints
    for sha in shas:
        assert hashlib.sha256(store.objects.read(sha)).hexdigest() == sha
        if backend == "folder":
            assert stat.S_IMODE(store.objects.path(sha).stat().st_mode) == 0o444
        else:  # in S3: the version the store wrote, locked in COMPLIANCE mode
            version = store.objects.version(sha)
            assert version is not None and version.locked


def test_same_file_twice_is_stored_once_with_two_entries_and_receipts(store_dir, inbox, dalel):
    photo = inbox / "protocol-1.jpg"
    r1 = dalel(
        "--store", store_dir, "ingest", photo, "--observer", VALID_IIN, "--precinct", "7", "--json"
    )
    r2 = dalel(
        "--store", store_dir, "ingest", photo, "--observer", OTHER_IIN, "--precinct", "7", "--json"
    )
    assert r1.code == r2.code == 0
    a, b = r1.json()["results"][0], r2.json()["results"][0]
    assert a["sha256"] == b["sha256"] and a["receipt"] != b["receipt"]
    store = Store.open(store_dir)
    index = Index(store)
    assert len(index.items_where()) == 1 and len(index.tokens_for(a["sha256"])) == 1
    second = json.loads(Path(b["receipt"]).read_text())["entry"]
    assert second["received_again"]["first_seq"] == 0
    assert second["received_again"]["first_observer"] != second["actor"]["id"]
    assert audit.run(audit.StoreSource(store)).ok


def test_no_iin_anywhere_in_store_log_receipts_or_export(store_dir, tmp_path, dalel):
    d = tmp_path / f"from {VALID_IIN}"
    make_photo(d / f"{VALID_IIN}_protocol.jpg")
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        d,
        "--observer",
        VALID_IIN,
        "--precinct",
        "5",
        "--note",
        f"observer IIN {VALID_IIN} was pushed away",
        "--channel",
        VALID_IIN,
    )
    assert r.code == 0, r.err
    assert VALID_IIN not in r.out + r.err
    r = dalel("--store", store_dir, "export-audit", tmp_path / "bundle", "--with-objects")
    assert r.code == 0
    show = dalel(
        "--store",
        store_dir,
        "show",
        json.loads((sorted((store_dir / "receipts").glob("*.json"))[0]).read_text())["entry"][
            "item"
        ]["sha256"],
        "--json",
    )
    assert VALID_IIN not in show.out
    for root in (store_dir, tmp_path / "bundle"):
        for p in root.rglob("*"):
            assert VALID_IIN not in p.name, p
            if p.is_file() and "objects" not in p.parts:
                assert VALID_IIN.encode() not in p.read_bytes(), p


def test_a_mistyped_iin_is_refused_before_any_file(store_dir, inbox, dalel):
    bad = VALID_IIN[:-1] + str((int(VALID_IIN[-1]) + 1) % 10)
    r = dalel("--store", store_dir, "ingest", inbox, "--observer", bad, "--precinct", "1")
    assert r.code == 2 and "check digit" in r.err
    assert (store_dir / "log" / "custody.jsonl").read_bytes() == b""


def test_show_gives_metadata_and_history(filled_store, dalel):
    receipt = json.loads(sorted((filled_store / "receipts").glob("*.json"))[0].read_text())
    sha = receipt["entry"]["item"]["sha256"]
    r = dalel("--store", filled_store, "show", sha[:10], "--json")
    assert r.code == 0
    data = r.json()
    assert data["item"]["sha256"] == sha and data["history"][0]["event"] == "ingest"
    human = dalel("--store", filled_store, "show", sha)
    assert human.code == 0 and "received_at" in human.out and "ingest" in human.out
    assert dalel("--store", filled_store, "show", "ffff").code == 2


def test_index_is_rebuilt_from_the_log(filled_store, dalel):
    before = dalel(
        "--store",
        filled_store,
        "show",
        "--json",
        json.loads(sorted((filled_store / "receipts").glob("*.json"))[-1].read_text())["entry"][
            "item"
        ]["sha256"],
    ).json()
    lose_index(filled_store)
    r = dalel("--store", filled_store, "reindex")
    n = len((filled_store / "log" / "custody.jsonl").read_bytes().splitlines())
    assert r.code == 0 and f"Indexed {n} entries" in r.out
    after = dalel("--store", filled_store, "show", "--json", before["item"]["sha256"]).json()
    assert after == before


def test_export_audit_bundle_verifies_without_store_or_keys(filled_store, tmp_path, dalel):
    out = tmp_path / "bundle"
    assert dalel("--store", filled_store, "export-audit", out).code == 0
    assert not (out / "keys").exists() and not (out / "objects").exists()
    assert not list(out.rglob("*.secret")) and not list(out.rglob("*ed25519.pem"))
    assert (out / "objects.txt").read_text().count("\n") == 8  # 3 photos, 5 tokens
    r = dalel("audit", "--bundle", out, "--json")
    assert r.code == 0 and r.json()["ok"] and r.json()["objects_rehashed"] is False
    # With objects: a flipped byte in the bundle is found.
    out2 = tmp_path / "bundle2"
    assert dalel("--store", filled_store, "export-audit", out2, "--with-objects").code == 0
    assert dalel("audit", "--bundle", out2).code == 0
    victim = sorted((out2 / "objects").iterdir())[0]
    victim.write_bytes(b"X" + victim.read_bytes()[1:])
    r = dalel("audit", "--bundle", out2, "--json")
    assert r.code == 1 and "HASH_MISMATCH" in {f["reason"] for f in r.json()["findings"]}
    # A bundle whose log lost entries that a checkpoint covers is found too.
    lines = (out / "log" / "custody.jsonl").read_bytes().splitlines(keepends=True)
    (out / "log" / "custody.jsonl").write_bytes(b"".join(lines[:2]))
    r = dalel("audit", "--bundle", out, "--json")
    assert r.code == 1 and "LOG_TRUNCATED" in {f["reason"] for f in r.json()["findings"]}


def test_photo_far_from_its_precinct_is_flagged(store_dir, tmp_path, dalel):
    from testing.samples import PhotoExif, write_jpeg

    photo = write_jpeg(tmp_path / "p.jpg", 3, PhotoExif(gps=(43.2389, 76.8897)))
    assert (
        dalel(
            "--store",
            store_dir,
            "precinct",
            "set",
            "12",
            "--lat",
            "43.2390",
            "--lon",
            "76.8890",
            "--radius-km",
            "1",
        ).code
        == 0
    )
    assert (
        dalel(
            "--store", store_dir, "precinct", "set", "13", "--lat", "51.1694", "--lon", "71.4491"
        ).code
        == 0
    )
    assert (
        dalel("--store", store_dir, "precinct", "set", "14", "--lat", "95", "--lon", "0").code == 2
    )
    near = dalel(
        "--store", store_dir, "ingest", photo, "--observer", "o", "--precinct", "12", "--json"
    ).json()["results"][0]
    far = dalel(
        "--store", store_dir, "ingest", photo, "--observer", "o", "--precinct", "13", "--json"
    ).json()["results"][0]
    assert "gps-far-from-precinct" not in near["flags"]
    assert "gps-far-from-precinct" in far["flags"]


def test_the_precinct_registry_gives_the_place_when_the_config_gives_none(
    store_dir, tmp_path, dalel
):
    """`dalel precinct import` feeds the GPS check: a precinct placed only by the registry
    flags a photo taken far from it; the config's own place, when set, wins."""
    from testing.samples import PhotoExif, write_jpeg

    photo = write_jpeg(tmp_path / "p.jpg", 3, PhotoExif(gps=(43.2389, 76.8897)))  # Almaty
    reg = tmp_path / "reg.csv"
    reg.write_text(
        "number,region,district,address,latitude,longitude\n"
        "21,Алматы қаласы,Бостандық ауданы,,43.2391,76.8893\n"
        "22,Астана қаласы,Есіл ауданы,,51.1694,71.4491\n"
        "23,Астана қаласы,Есіл ауданы,,51.1694,71.4491\n"
        "24,Астана қаласы,Есіл ауданы,,,\n",
        encoding="utf-8",
    )
    assert dalel("--store", store_dir, "precinct", "import", reg).code == 0
    set_ = ("precinct", "set", "23", "--lat", "43.2390", "--lon", "76.8890")
    assert dalel("--store", store_dir, *set_).code == 0  # the config places 23 in Almaty

    def flags(precinct: str) -> list[str]:
        r = dalel("--store", store_dir, "ingest", photo, "--observer", "o", "--precinct",
                  precinct, "--json")  # fmt: skip
        return r.json()["results"][0]["flags"]

    assert "gps-far-from-precinct" not in flags("21")
    assert "gps-far-from-precinct" in flags("22")
    assert "gps-far-from-precinct" not in flags("23")
    assert "gps-far-from-precinct" not in flags("24")  # no place known: nothing to check
