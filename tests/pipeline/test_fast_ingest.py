"""Issue 18's ingest speed-ups, each with what would show it broken.

- ``put_file`` copies in the kernel and hashes the copy: the name is always the hash of the
  bytes stored, even when the file changes while it is read, and where the kernel cannot
  copy (another file system, procfs) the bytes are read and written instead;
- the runner stores the next files on another thread while it logs this one, and before the
  writer is open: entries keep their order, refused files are never read, and no entry
  reaches the log before the objects it names are synced;
- metadata is read from the first bytes kept by the hashing pass: the same as from the file.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import os
from pathlib import Path

import pytest

from evidence import audit
from evidence.content.media import detect_media_type, sniff
from evidence.content.metadata import extract_metadata
from evidence.content.metadata_readers import HEAD_SCAN
from evidence.storage import objects as objects_module
from evidence.storage import s3objects
from evidence.storage import writer as writer_module
from evidence.storage.objects import FileBlobStore
from evidence.storage.store import Store
from pipeline import hooks
from pipeline.intake import Submission
from pipeline.run import run_batch
from pipeline.stages import Status
from testing.samples import write_sample_set
from tests.conftest import make_photo


def _defaults(precinct: str = "7") -> Submission:
    return Submission(Path("."), "", "obs-fast", precinct)


def _blob_store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "objects", durable_each=False)


# --- put_file ----------------------------------------------------------------------------
def test_put_file_names_the_blob_by_the_hash_of_its_bytes_and_keeps_its_head(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    blobs = _blob_store(tmp_path)
    with open(src, "rb") as f:
        f.read(8192)  # what intake looks at first: put_file copies from the start anyway
        stored = blobs.put_file(f, head=HEAD_SCAN)
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert stored.new and stored.head == data[:HEAD_SCAN]
    assert blobs.path(stored.sha256).read_bytes() == data
    assert not os.access(blobs.path(stored.sha256), os.W_OK) or os.geteuid() == 0
    assert oct(blobs.path(stored.sha256).stat().st_mode & 0o777) == "0o444"
    with open(src, "rb") as f:
        again = blobs.put_file(f)
    assert (again.sha256, again.new, again.head) == (stored.sha256, False, b"")
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_a_store_makes_each_folder_once_and_again_if_it_was_removed(tmp_path, monkeypatch):
    """A batch's tokens (a blob each) do not ask for the same folders again at every blob;
    a folder removed behind the store's back (its ``tmp``, a blob's) is made again."""
    import io
    import shutil

    (tmp_path / "objects").mkdir()
    made: list[Path] = []
    real = Path.mkdir

    def mkdir(self, *a, **k):
        made.append(self)
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    blobs = _blob_store(tmp_path)
    stored = [blobs.put_bytes(b"token %d" % i) for i in range(40)]
    with open(tmp_path / "p.bin", "wb") as f:
        f.write(os.urandom(2 * objects_module.MAP_FROM))
    with open(tmp_path / "p.bin", "rb") as f:
        stored.append(blobs.put_file(f))
    shards = {s.sha256[:2] for s in stored}
    assert len(made) == 1 + len(shards)  # tmp once, each blob's folder once
    shutil.rmtree(blobs.tmp)
    shutil.rmtree(blobs.path(stored[0].sha256).parent)
    again = blobs.put_stream(io.BytesIO(b"token 0"))
    late = blobs.put_bytes(b"a token after its folder went")
    for s in (again, late):
        assert blobs.hash_of(s.sha256) == s.sha256 and s.new
    assert list(blobs.tmp.iterdir()) == []


def test_an_items_history_is_asked_through_one_statement(tmp_path, monkeypatch):
    """A batch's reading threads ask the index for every file's history: one statement,
    set up once, serves every call (a new one cost 0.3 CPU-ms each), and gives the item's
    entries in log order."""
    from evidence.provision import init_store
    from evidence.storage import index as index_module

    init_store(tmp_path / "store", org="One statement")
    folder = tmp_path / "in"
    make_photo(folder / "a.jpg", (10, 20, 30))
    make_photo(folder / "b.jpg", (30, 20, 10))
    store = hooks.open_store(tmp_path / "store")
    run_batch(store, [folder], _defaults(), dedupe=False)
    run_batch(store, [folder / "a.jpg"], _defaults(), dedupe=False)  # a second hand-in
    shas = [r["sha256"] for r in store.index.items_where()]
    built = []
    real = index_module.select
    monkeypatch.setattr(index_module, "select", lambda *a: built.append(a) or real(*a))
    histories = [store.index.history(sha) for sha in shas * 3]
    assert built == [] and len(shas) == 2
    for sha, history in zip(shas * 3, histories, strict=True):
        assert [e["seq"] for e in history] == sorted(e["seq"] for e in history)
        assert all(e["item"]["sha256"] == sha for e in history if e["event"] == "ingest")
    assert sorted(len(h) for h in histories[:2]) == [1, 2]  # a.jpg was handed in twice


@pytest.mark.parametrize(
    "size", [1, 4095, objects_module.MAP_FROM - 1, objects_module.MAP_FROM, 9 * 2**20 + 3]
)
@pytest.mark.parametrize("head", [0, 7, HEAD_SCAN, 4 * 2**20 + 1, 20 * 2**20])
def test_hash_file_read_or_mapped_gives_the_hash_and_the_head(tmp_path, monkeypatch, size, head):
    """Under MAP_FROM the copy is read, from it on mapped a window after another (4 MiB
    here: a head and a file over several of them): the same hash and first bytes."""
    monkeypatch.setattr(objects_module, "MAP_WINDOW", 4 * 2**20)
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data + b"after")  # bytes past ``size`` are not hashed
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        digest, first = objects_module.hash_file(fd, size, head)
    finally:
        os.close(fd)
    assert digest == hashlib.sha256(data).hexdigest()
    assert first == data[:head] and isinstance(first, bytes)


@pytest.mark.parametrize("size", [4096, objects_module.MAP_FROM + 10])
def test_hash_file_of_a_copy_shorter_than_copied_is_an_error(tmp_path, size):
    (tmp_path / "f").write_bytes(b"x" * (size - 10))
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        with pytest.raises(OSError) as e:
            objects_module.hash_file(fd, size)
    finally:
        os.close(fd)
    assert e.value.errno == errno.EIO


def test_a_file_that_changes_while_it_is_copied_is_stored_as_read(tmp_path, monkeypatch):
    """Between two pieces of the copy the rest of the file is overwritten and it grows: the
    object holds the first piece as it was and the rest as it became, and is named by the
    hash of exactly those bytes (what audit re-hashes)."""
    piece = 64 * 1024
    monkeypatch.setattr(objects_module, "COPY_PIECE", piece)
    before = os.urandom(4 * piece)
    src = tmp_path / "moving.bin"
    src.write_bytes(before)
    real = os.copy_file_range
    calls = []

    def copy_file_range(fd_in, fd_out, count, offset_src=None, offset_dst=None):
        n = real(fd_in, fd_out, count, offset_src, offset_dst)
        calls.append(n)
        if len(calls) == 1:  # the writer of the file goes on while it is read
            with open(src, "r+b") as w:
                w.seek(piece)
                w.write(b"\x00" * (3 * piece) + b"late bytes")
        return n

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    blobs = _blob_store(tmp_path)
    with open(src, "rb") as f:
        stored = blobs.put_file(f)
    kept = blobs.path(stored.sha256).read_bytes()
    assert kept == before[:piece] + b"\x00" * (3 * piece) + b"late bytes"
    assert stored.sha256 == hashlib.sha256(kept).hexdigest() and stored.size == len(kept)
    assert blobs.hash_of(stored.sha256) == stored.sha256


@pytest.mark.parametrize("how", ["another file system", "the kernel copies nothing"])
def test_where_the_kernel_cannot_copy_the_bytes_are_read_and_written(tmp_path, monkeypatch, how):
    data = os.urandom(2 * 1024 * 1024 + 5)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    tried = []

    def copy_file_range(*args, **kw):
        tried.append(args)
        if how == "another file system":
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return 0  # what procfs and some other file systems answer

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    blobs = _blob_store(tmp_path)
    with open(src, "rb") as f:
        stored = blobs.put_file(f, head=100)
    assert tried, "the kernel copy was not tried"
    assert len(tried) == 1, "a file system that cannot copy was asked again"
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.head == data[:100]
    assert blobs.path(stored.sha256).read_bytes() == data


def test_a_read_error_while_copying_leaves_no_temporary_file(tmp_path, monkeypatch):
    src = tmp_path / "in.bin"
    src.write_bytes(b"x" * 5000)

    def copy_file_range(*args, **kw):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    blobs = _blob_store(tmp_path)
    with open(src, "rb") as f, pytest.raises(OSError) as e:
        blobs.put_file(f)
    assert e.value.errno == errno.EIO
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


# --- the runner reading ahead ------------------------------------------------------------
# The folder only: what is watched is the fsync of the objects' files in objects/ (an object
# in S3 is durable when its PUT returns, before the writer is handed it).
@pytest.mark.parametrize("store_dir", ["folder"], indirect=True)
def test_no_entry_reaches_the_log_before_the_objects_it_names_are_synced(
    store_dir, tmp_path, monkeypatch
):
    """Objects read ahead are not synced one by one: each commit syncs the file system
    before it writes the lines that name them. Recorded in the order things happen."""
    folder = tmp_path / "in"
    for i in range(12):
        make_photo(folder / f"p{i:02d}.jpg", (i * 20, 40, 90))
    events: list[tuple[str, object]] = []
    real_seal, real_sync, real_flush = (
        FileBlobStore.seal,
        writer_module.sync_filesystem,
        writer_module.Writer.flush,
    )

    def seal(self, copied, **kw):  # what puts an object in place, whichever thread calls it
        stored = real_seal(self, copied, **kw)
        events.append(("stored", stored.sha256))
        return stored

    def sync_filesystem(path):
        real_sync(path)
        events.append(("synced", None))

    def flush(self, objects=None):
        named = {a.entry["item"]["sha256"] for a in self._pending if "item" in a.entry}
        events.append(("flush", named))
        real_flush(self, objects)
        events.append(("written", None))

    monkeypatch.setattr(FileBlobStore, "seal", seal)
    monkeypatch.setattr(writer_module, "sync_filesystem", sync_filesystem)
    monkeypatch.setattr(writer_module.Writer, "flush", flush)
    monkeypatch.setattr("pipeline.run.COMMIT_EVERY", 5)  # several commits in one batch
    store = hooks.open_store(store_dir)
    batch = run_batch(store, [folder], _defaults(), dedupe=False)
    assert len(batch.of(Status.DONE)) == 12
    flushes = [i for i, (kind, named) in enumerate(events) if kind == "flush" and named]
    assert len(flushes) >= 3  # a commit every 5 files, and the last
    stored_at = {sha: i for i, (kind, sha) in enumerate(events) if kind == "stored"}
    for i in flushes:
        named = events[i][1]
        assert isinstance(named, set)
        written = next(j for j in range(i, len(events)) if events[j][0] == "written")
        synced = [j for j in range(i, written) if events[j][0] == "synced"]
        assert synced, "the lines were written without a sync"
        assert all(stored_at[sha] < synced[0] for sha in named), "named before it was synced"
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


def test_files_are_logged_in_the_order_handed_in_and_refused_ones_are_never_read(
    store_dir, tmp_path
):
    """A manifest gives one file a precinct that is not one: it is refused before a byte of
    it is read, so it is not among the objects, though the files after it were read ahead."""
    folder = tmp_path / "in"
    names = [f"f{i:02d}.jpg" for i in range(10)]
    for i, name in enumerate(names):
        make_photo(folder / name, (i * 25, 10, 10))
    (folder / "manifest.csv").write_text("file,precinct\nf03.jpg,77777777777777\n")
    refused_sha = hashlib.sha256((folder / "f03.jpg").read_bytes()).hexdigest()
    store = hooks.open_store(store_dir)
    batch = run_batch(store, [folder], _defaults(), dedupe=False)
    intake = [r for r in batch.results if r.stage == "intake"]
    assert [r.subject for r in intake] == names
    assert [r.status.value for r in intake].count("refused") == 1
    assert intake[3].data["reason"] == "PRECINCT_INVALID"
    assert not store.objects.exists(refused_sha)
    logged = [
        json.loads(line)["entry"]
        for line in store.log_path.read_bytes().splitlines()
        if b'"event":"ingest"' in line
    ]
    assert [e["path"] for e in logged] == [n for n in names if n != "f03.jpg"]


def test_a_failure_while_reading_ahead_is_raised_at_that_files_turn(
    store_dir, tmp_path, monkeypatch
):
    """The store's disk refusing the third file stops the batch there, as if it had been
    read in turn: two files are taken (committed and receipted), the rest named."""
    folder = tmp_path / "in"
    for i in range(6):
        make_photo(folder / f"p{i}.jpg", (i * 30, 0, 0))

    def refuse(name: str) -> None:
        if name.endswith("p2.jpg"):
            raise OSError(errno.ENOSPC, "No space left on device")

    store = hooks.open_store(store_dir)
    if isinstance(store.objects, FileBlobStore):  # the copy into objects/
        real = FileBlobStore.copy_in

        def copy_in(self, src):
            refuse(src.name)
            return real(self, src)

        monkeypatch.setattr(FileBlobStore, "copy_in", copy_in)
    else:  # objects in S3: the copy into objects/tmp that is hashed, then uploaded
        real_copy = s3objects.copy_file

        def copy_file(src, dst, *args, **kw):
            refuse(os.readlink(f"/proc/self/fd/{src}"))
            return real_copy(src, dst, *args, **kw)

        monkeypatch.setattr(s3objects, "copy_file", copy_file)
    batch = run_batch(store, [folder], _defaults(), dedupe=False)
    assert batch.stopped is not None and batch.stopped.not_taken == 4
    assert batch.stopped.first == "p2.jpg"
    taken = [r for r in batch.results if r.stage == "intake"]
    assert [r.subject for r in taken] == ["p0.jpg", "p1.jpg"]
    assert len(batch.receipts) == 2
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok
    del store  # (a store on S3 keeps its last uploads' copies for intake while it is open)
    gc.collect()
    assert list((store_dir / "objects" / "tmp").iterdir()) == []  # no copy left behind


def test_reading_ahead_logs_what_reading_in_turn_logs(tmp_path):
    """The same folder through the runner reading ahead and reading each file in its turn:
    the same entries, apart from the clock."""
    from evidence.provision import init_store
    from pipeline.intake import collect
    from pipeline.run import run_submissions

    samples = tmp_path / "samples"
    write_sample_set(samples, seed=5)
    out = []
    for ahead in (True, False):
        root = tmp_path / f"store-{ahead}"
        init_store(root, org="Same")
        store = hooks.open_store(root)
        run_submissions(store, collect([samples], _defaults()), read_ahead=ahead)
        entries = []
        for line in store.log_path.read_bytes().splitlines():
            e = json.loads(line)["entry"]
            if e["event"] in ("ingest", "refused"):
                for k in ("time", "seq", "prev", "actor", "quarantine"):
                    e.pop(k, None)
                entries.append(_without_clock(e))
        out.append(entries)
    assert out[0] == out[1] and len(out[0]) >= 5


def _without_clock(value: object) -> object:
    """``value`` with our clock's readings (``received_at``) blanked."""
    if isinstance(value, dict):
        if value.get("name") == "received_at":
            return {**value, "value": "-"}
        return {k: "-" if k == "received_at" else _without_clock(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


# --- metadata from the hashing pass ------------------------------------------------------
def test_metadata_from_the_kept_head_is_the_metadata_from_the_file(tmp_path):
    from datetime import UTC, datetime

    samples = write_sample_set(tmp_path / "s", seed=11)
    when = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    checked = 0
    for sample in samples.values():
        path = sample.path
        if not path.is_file() or path.stat().st_size == 0:
            continue
        with open(path, "rb") as f:
            head = f.read(HEAD_SCAN)
        media = detect_media_type(path)
        assert sniff(head, path.name) == media, path.name
        from_file = extract_metadata(path, media, received_at=when)
        from_head = extract_metadata(path, media, received_at=when, head=head)
        assert from_head.to_dict() == from_file.to_dict(), path.name
        checked += 1
    assert checked >= 5


def test_put_file_head_is_what_metadata_reads(tmp_path):
    """The head put_file returns is the file's first HEAD_SCAN bytes, or all of a smaller
    one: what intake hands the metadata readers instead of opening the object again."""
    blobs = _blob_store(tmp_path)
    for size in (10, HEAD_SCAN - 1, HEAD_SCAN, HEAD_SCAN + 1, 5 * HEAD_SCAN):
        data = os.urandom(size)
        (tmp_path / "f").write_bytes(data)
        with open(tmp_path / "f", "rb") as f:
            stored = blobs.put_file(f, head=HEAD_SCAN)
        assert stored.head == data[:HEAD_SCAN] and stored.size == size
