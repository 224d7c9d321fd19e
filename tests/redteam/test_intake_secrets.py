"""`dalel ingest .` beside its own store: the store's keys and secret never become evidence, a
private key handed in is refused without being copied, and an export carries no secret."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VALID_IIN, make_photo

PRIVATE_PEM = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VwBCIEIDx4b9pWcB3sW8vF2aZ0c6xNnq3dXlKr1k0sJrM2Yl1W\n"
    b"-----END PRIVATE KEY-----\n"
)


def _secrets(store: Path) -> list[bytes]:
    """The bytes of every private file of ``store`` (its keys and its pseudonym secret)."""
    found = [p.read_bytes() for p in sorted((store / "keys").rglob("*")) if p.is_file()]
    assert len(found) >= 2  # the log key and the secret at least
    return found


def _all_bytes_under(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def _ingest(dalel, store: Path, *paths: Path):
    return dalel(
        "--store",
        store,
        "ingest",
        *paths,
        "--observer",
        VALID_IIN,
        "--precinct",
        "7",
        "--json",
    )


@pytest.fixture
def workdir(tmp_path: Path, dalel) -> Path:
    """A folder holding photos, the default ``dalel-store`` and a renamed copy of it."""
    work = tmp_path / "work"
    make_photo(work / "p1.jpg", (10, 20, 30))
    make_photo(work / "sub" / "p2.jpg", (40, 50, 60))
    assert dalel("--store", work / "dalel-store", "init", "--org", "Org").code == 0
    shutil.copytree(work / "dalel-store", work / "sub" / "evidence-backup")
    return work


def test_ingest_of_a_folder_holding_stores_takes_none_of_their_files(dalel, workdir):
    store = workdir / "dalel-store"
    r = _ingest(dalel, store, workdir)
    results = r.json()["results"]
    stored = sorted(
        x["subject"] for x in results if x["stage"] == "intake" and x["status"] == "done"
    )
    refused = {x["subject"]: x for x in results if x["status"] == "refused"}
    assert stored == ["p1.jpg", "sub/p2.jpg"]
    # both stores are recognised by their config, not their name, and named once each
    assert set(refused) == {"dalel-store", "sub/evidence-backup"}
    assert all("STORE_FOLDER" in x["detail"] for x in refused.values())
    assert r.code == 3
    # not a byte of either store's keys or secret is in the objects or the quarantine
    secrets = _secrets(store) + _secrets(workdir / "sub" / "evidence-backup")
    for path, data in _all_bytes_under(store / "objects") + _all_bytes_under(store / "quarantine"):
        assert not any(s in data for s in secrets), path
    for q in (store / "quarantine").iterdir():
        reason = json.loads((q / "reason.json").read_text())
        assert reason["copied"] is False and not (q / "original").exists()
    assert dalel("--store", store, "audit").code == 0


def test_a_file_inside_a_store_handed_in_by_name_is_refused(dalel, workdir):
    store = workdir / "dalel-store"
    key = next(p for p in (store / "keys").iterdir() if p.is_file())
    r = _ingest(dalel, store, key, workdir / "sub" / "evidence-backup" / "config.toml")
    assert [x["status"] for x in r.json()["results"]] == ["refused", "refused"]
    assert all("STORE_FOLDER" in x["detail"] for x in r.json()["results"])
    assert r.json()["summary"]["stored"] == 0


def test_a_private_key_handed_in_is_refused_and_not_copied(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    folder = tmp_path / "in"
    make_photo(folder / "p.jpg")
    (folder / "signing.pem").write_bytes(PRIVATE_PEM)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "id_ed25519")],
        check=True,
    )
    openssh = (folder / "id_ed25519").read_bytes()
    r = _ingest(dalel, store, folder)
    by_path = {x["subject"]: x for x in r.json()["results"]}
    assert by_path["p.jpg"]["status"] == "done"
    assert by_path["id_ed25519.pub"]["status"] == "done"  # a public key is not a secret
    for name in ("signing.pem", "id_ed25519"):
        assert by_path[name]["status"] == "refused"
        assert "SECRET_KEY" in by_path[name]["detail"]
    for path, data in _all_bytes_under(store):
        assert PRIVATE_PEM not in data and openssh not in data, path
    assert r.code == 3
    assert dalel("--store", store, "audit").code == 0


def test_an_export_with_objects_carries_no_secret(dalel, workdir, tmp_path):
    store = workdir / "dalel-store"
    _ingest(dalel, store, workdir)
    out = tmp_path / "export"
    assert dalel("--store", store, "export-audit", out, "--with-objects").code == 0
    secrets = _secrets(store)
    files = _all_bytes_under(out)
    assert files
    for path, data in files:
        assert not any(s in data for s in secrets), path
        assert b"PRIVATE KEY" not in data, path


def _too_deep(parent: Path, levels: int = 18) -> Path:
    """Folders nested so deep that their path passes PATH_MAX (4096): listing the deepest
    fails with ENAMETOOLONG, even for root (who reads every folder whatever its mode)."""
    fd = os.open(parent, os.O_RDONLY)
    name = "d" * 250
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    return parent / name


def test_an_unreadable_subfolder_is_named_not_skipped(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    folder = tmp_path / "in"
    make_photo(folder / "p.jpg")
    _too_deep(folder)
    r = _ingest(dalel, store, folder)
    results = r.json()["results"]
    assert [x["subject"] for x in results if x["stage"] == "intake" and x["status"] == "done"] == [
        "p.jpg"
    ]
    unreadable = [x for x in results if "FOLDER_UNREADABLE" in x["detail"]]
    assert len(unreadable) == 1 and unreadable[0]["status"] == "refused", results
    assert r.code == 3
    assert dalel("--store", store, "audit").code == 0


def test_a_symlink_loop_is_named_not_a_crash(dalel, tmp_path):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    folder = tmp_path / "in"
    make_photo(folder / "p.jpg")
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    (folder / "self").symlink_to(folder / "self")
    r = _ingest(dalel, store, folder)
    intake = {x["subject"]: x for x in r.json()["results"] if x["stage"] == "intake"}
    assert intake["p.jpg"]["status"] == "done"
    for name in ("a", "b", "self"):
        assert intake[name]["status"] == "refused", intake
    assert r.code == 3
    assert dalel("--store", store, "audit").code == 0
