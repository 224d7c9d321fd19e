"""Bad input: a clear result for each file, nothing lost, the batch goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from evidence import audit
from evidence.storage.store import Store
from testing import samples
from tests.conftest import ROOT, VALID_IIN


def ingest_json(dalel, store_dir, *paths, code=None, **opts):
    args = [
        "--store",
        store_dir,
        "ingest",
        *paths,
        "--observer",
        VALID_IIN,
        "--precinct",
        "9",
        "--json",
    ]
    r = dalel(*args)
    if code is not None:
        assert r.code == code, (r.code, r.err)
    return r, {Path(x["subject"]).name: x for x in r.json()["results"] if x["stage"] == "intake"}


def test_hostile_batch_stores_damaged_evidence_and_quarantines_the_rest(store_dir, tmp_path, dalel):
    d = tmp_path / "field"
    samples.write_jpeg(d / "good.jpg", seed=1)
    samples.write_zero_byte(d / "empty.jpg")
    samples.write_truncated_jpeg(d / "truncated.jpg", seed=2)
    samples.write_corrupt_png(d / "corrupt.png", seed=3)
    samples.write_truncated_mp4(d / "truncated.mp4")
    samples.write_fake_heic(d / "fake.heic")
    samples.write_png_named_jpg(d / "lies.jpg", seed=4)
    samples.write_text_named_jpg(d / "text.jpg")
    os.mkfifo(d / "a-pipe")
    (d / "inside-link.jpg").symlink_to(d / "good.jpg")
    (d / "outside-link.jpg").symlink_to("/etc/hostname")
    weird = ["..dots..jpg", "Қазақ әғқңөұүһі.jpg", "новый\x07звон.jpg", "back\\slash.jpg"]
    for i, name in enumerate(weird):
        samples.write_jpeg(d / name, seed=10 + i)
    _r, res = ingest_json(dalel, store_dir, d, code=3)

    def status(name):
        return res[name]["status"]

    # Damaged files are still evidence: stored, receipted, metadata noted as unreadable.
    for name in (
        "truncated.jpg",
        "corrupt.png",
        "truncated.mp4",
        "fake.heic",
        "lies.jpg",
        "text.jpg",
        "good.jpg",
        "inside-link.jpg",
        *weird[:2],
        "back\\slash.jpg",
    ):
        assert status(name) == "done", (name, res[name])
        assert res[name]["receipt"] and Path(res[name]["receipt"]).is_file()
    assert status("новый\ufffdзвон.jpg") == "done"
    store = Store.open(store_dir)
    entries = {
        json.loads(Path(x["receipt"]).read_text())["entry"]["name"]: json.loads(
            Path(x["receipt"]).read_text()
        )["entry"]
        for x in res.values()
        if x.get("receipt")
    }
    assert entries["lies.jpg"]["media"]["mime"] == "image/png"
    assert entries["lies.jpg"]["media"]["extension_mismatch"] is True
    assert entries["truncated.jpg"]["metadata"]["structure"]["verdict"] != "intact"
    assert "новый\ufffdзвон.jpg" in entries
    # Refused: each quarantined with its reason, byte for byte where there are bytes.
    assert res["empty.jpg"]["reason"] == "EMPTY_FILE"
    assert res["a-pipe"]["reason"] == "NOT_REGULAR_FILE"
    assert res["outside-link.jpg"]["reason"] == "SYMLINK_OUTSIDE_TREE"
    for name in ("empty.jpg", "a-pipe", "outside-link.jpg"):
        q = Path(res[name]["quarantine"])
        reason = json.loads((q / "reason.json").read_text())
        assert reason["reason"] == res[name]["reason"]
    assert (Path(res["empty.jpg"]["quarantine"]) / "original").read_bytes() == b""
    assert not (Path(res["outside-link.jpg"]["quarantine"]) / "original").exists()
    # The refusals are in the custody log too, and the store is intact.
    events = [
        json.loads(ln)["entry"]["event"]
        for ln in (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    ]
    assert events.count("refused") == 3
    assert audit.run(audit.StoreSource(store)).ok


def test_a_several_gigabyte_file_is_streamed_not_read_whole(store_dir, tmp_path):
    big = samples.write_sparse(tmp_path / "huge.mp4", size=3 * 1024**3)
    # ru_maxrss survives exec (the child would start at pytest's own size): reset the peak
    # with clear_refs, then read this process's own high-water mark.
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from cli import main
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rc = main(["--store", {str(store_dir)!r}, "ingest", {str(big)!r},
                   "--observer", "obs-1", "--precinct", "1", "--json"])
        hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
        print("PEAK", int(hwm.split()[1]) / 1024, file=sys.stderr)
        sys.exit(rc)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    peak = float(p.stderr.split("PEAK")[1].split()[0])
    assert peak < 400, f"peak RSS {peak} MB for a 3 GB file"
    result = json.loads(p.stdout)["results"][0]
    assert Store.open(store_dir).objects.size(result["sha256"]) == 3 * 1024**3


def test_a_missing_path_is_refused_and_the_rest_goes_in(store_dir, tmp_path, dalel):
    samples.write_jpeg(tmp_path / "ok.jpg")
    _r, res = ingest_json(dalel, store_dir, tmp_path / "ok.jpg", tmp_path / "nope.jpg", code=3)
    assert res["ok.jpg"]["status"] == "done"
    assert res["nope.jpg"]["reason"] == "NOT_FOUND"


def test_a_folder_of_ten_thousand_files(store_dir, tmp_path, dalel, backend):
    # In S3 each object is a PUT and a check of its lock (about 30 ms here): a thousand there,
    # still two commits and a receipt each (the ten thousand take five minutes)
    n = 10_000 if backend == "folder" else 1_000
    d = tmp_path / "many"
    d.mkdir()
    for i in range(n):
        (d / f"f{i:05d}.txt").write_bytes(f"note {i}\n".encode())
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        d,
        "--observer",
        "obs-1",
        "--precinct",
        "3",
        "--kind",
        "other",
        "--json",
    )
    assert r.code == 0, r.err
    assert r.json()["summary"]["stored"] == n
    assert len(list((store_dir / "receipts").glob("*.json"))) == n
    rep = audit.run(audit.StoreSource(Store.open(store_dir), rehash=False))
    assert rep.ok and rep.receipts == n
    assert rep.tokens == n + rep.checkpoints  # every item and checkpoint is stamped


def test_an_unreadable_file_is_refused_and_the_batch_goes_on(
    store_dir, tmp_path, dalel, monkeypatch
):
    # Root reads everything, so the permission error is simulated at the one read.
    from evidence.storage.objects import FileBlobStore
    from evidence.storage.s3objects import S3BlobStore

    samples.write_jpeg(tmp_path / "in" / "a-ok.jpg", seed=1)
    samples.write_jpeg(tmp_path / "in" / "b-locked.jpg", seed=2)
    real, real_copy = FileBlobStore.put_stream, FileBlobStore.copy_in

    def put_stream(self, stream):
        if getattr(stream, "name", "").endswith("b-locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return real(self, stream)

    def copy_in(self, src):  # a file on a path is copied by copy_in (put_file, read-ahead)
        if getattr(src, "name", "").endswith("b-locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return real_copy(self, src)

    monkeypatch.setattr(FileBlobStore, "put_stream", put_stream)
    monkeypatch.setattr(FileBlobStore, "copy_in", copy_in)
    # In S3 a file is copied to a temporary file first (put_file, or put_stream for a stream).
    s3_stream, s3_file = S3BlobStore.put_stream, S3BlobStore.put_file

    def s3_put_stream(self, stream):
        if getattr(stream, "name", "").endswith("b-locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return s3_stream(self, stream)

    def s3_put_file(self, src, **kw):
        if getattr(src, "name", "").endswith("b-locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return s3_file(self, src, **kw)

    monkeypatch.setattr(S3BlobStore, "put_stream", s3_put_stream)
    monkeypatch.setattr(S3BlobStore, "put_file", s3_put_file)
    _r, res = ingest_json(dalel, store_dir, tmp_path / "in", code=3)
    assert res["a-ok.jpg"]["status"] == "done"
    assert res["b-locked.jpg"]["reason"] == "UNREADABLE"
    assert "Permission denied" in res["b-locked.jpg"]["detail"]
