"""A batch starts reading its files as soon as it holds the store's lock (issue 18): the
commit's hooks (SQLAlchemy, the stampers, the receipts) load and the writer opens while the
first files are copied and hashed. What must come first still does: the lock and the disk's
reserve before a byte is copied, the writer open (the index caught up with the log) before
a file is described, and a writer that cannot open stops the reading and lets the lock go.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from base.errors import StoreBusy
from evidence import audit
from evidence.storage import writer as writer_module
from evidence.storage.store import Store
from pipeline import hooks
from pipeline import intake as intake_module
from pipeline import run as run_module
from pipeline.intake import IntakeStage, Submission
from pipeline.run import run_batch
from pipeline.stages import Status
from tests.conftest import make_photo

ROOT = Path(__file__).resolve().parents[2]


def _photos(folder: Path, n: int) -> Path:
    for i in range(n):
        make_photo(folder / f"p{i:02d}.jpg", (i * 20 % 256, 40, 90))
    return folder


def _defaults() -> Submission:
    return Submission(Path("."), "", "obs-early", "7")


def _locked_by_someone(store_dir: Path) -> bool:
    """Whether the store's lock is held (a lock of its own on another open file fails)."""
    fd = os.open(store_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (closing lets go a lock it took)
    return False


def test_files_are_read_while_the_commit_hooks_load(store_dir, tmp_path, monkeypatch):
    """The hooks are attached by the batch itself, after the reading has begun: attaching
    them here waits until a file has been stored, which never happens when the reading
    starts only once the writer is open (this waits 20 s, then says so)."""
    folder = _photos(tmp_path / "in", 6)
    stored = threading.Event()
    real_prepare, real_attach = IntakeStage.prepare, hooks.attach

    def prepare(self, sub, store, **kw):
        prepared = real_prepare(self, sub, store, **kw)
        stored.set()
        return prepared

    seen: list[bool] = []

    def attach(store):
        seen.append(stored.wait(20))
        return real_attach(store)

    monkeypatch.setattr(IntakeStage, "prepare", prepare)
    monkeypatch.setattr(run_module, "hooks", hooks)  # (not its stand-in, loaded once)
    monkeypatch.setattr(hooks, "attach", attach)
    store = Store.open(store_dir)  # as `dalel ingest` opens it: no hooks yet
    batch = run_batch(store, [folder], _defaults(), dedupe=False)
    assert seen and seen[0], "no file was stored before the commit hooks were attached"
    assert len(batch.of(Status.DONE)) == 6 and len(batch.receipts) == 6
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok


def test_no_file_is_copied_before_the_lock_is_held_and_none_described_before_the_writer_opens(
    store_dir, tmp_path, monkeypatch
):
    """Each file is stored under the lock, and described (its precinct's place read from
    the index) only once the writer has opened and brought the index up to date; the
    writer is made slow to open, so that the readers would get there first."""
    folder = _photos(tmp_path / "in", 8)
    under_lock: list[bool] = []
    described_open: list[bool] = []
    is_open = threading.Event()
    real_prepare, real_describe = IntakeStage.prepare, IntakeStage.describe
    real_open = writer_module.Writer.open

    def prepare(self, sub, store, **kw):
        under_lock.append(_locked_by_someone(store_dir))
        return real_prepare(self, sub, store, **kw)

    def describe(prepared, sub, store, places=None):
        described_open.append(is_open.is_set())
        return real_describe(prepared, sub, store, places)

    def slow_open(self):
        threading.Event().wait(0.5)  # the readers have stored files by now
        opened = real_open(self)
        is_open.set()
        return opened

    monkeypatch.setattr(IntakeStage, "prepare", prepare)
    monkeypatch.setattr(IntakeStage, "describe", staticmethod(describe))
    monkeypatch.setattr(writer_module.Writer, "open", slow_open)
    store = Store.open(store_dir)
    batch = run_batch(store, [folder], _defaults(), dedupe=False)
    assert len(batch.of(Status.DONE)) == 8
    assert len(under_lock) == 8 and all(under_lock)
    assert len(described_open) == 8 and all(described_open)
    assert not _locked_by_someone(store_dir)  # and let go at the end


def test_a_writer_that_cannot_open_stops_the_reading_and_lets_the_lock_go(
    store_dir, tmp_path, monkeypatch
):
    """The writer fails to open after the reading has begun: the error comes out as it is,
    nothing is logged, no reader is left waiting (the call returns), the lock is free and
    no temporary copy is left behind."""
    folder = _photos(tmp_path / "in", 10)

    real_open = writer_module.Writer.open

    def fails(self):
        raise StoreBusy("another Dalel process has been writing to this store for too long")

    monkeypatch.setattr(writer_module.Writer, "open", fails)
    store = Store.open(store_dir)
    log_before = store.log_path.read_bytes()
    with pytest.raises(StoreBusy):
        run_batch(store, [folder], _defaults(), dedupe=False)
    assert store.log_path.read_bytes() == log_before
    assert not _locked_by_someone(store_dir)
    del store  # (a store on S3 keeps its last uploads' copies for intake while it is open)
    gc.collect()
    tmp = store_dir / "objects" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("dalel-")] == []
    monkeypatch.setattr(writer_module.Writer, "open", real_open)  # and now it can open:
    batch = run_batch(Store.open(store_dir), [folder], _defaults(), dedupe=False)
    assert len(batch.of(Status.DONE)) == 10


def test_a_precincts_place_is_looked_up_once_a_batch(store_dir, tmp_path, monkeypatch):
    """Twelve photos of two precincts (a manifest gives four of them another): the place of
    each precinct is looked up in the registry once, not once a file."""
    folder = _photos(tmp_path / "in", 12)
    rows = "".join(f"p{i:02d}.jpg,8\n" for i in range(4))
    (folder / "manifest.csv").write_text("file,precinct\n" + rows)
    asked: list[str] = []
    real = intake_module.registry_location

    def location(store, precinct):
        asked.append(precinct)
        return real(store, precinct)

    monkeypatch.setattr(intake_module, "registry_location", location)
    batch = run_batch(Store.open(store_dir), [folder], _defaults(), dedupe=False)
    assert len(batch.of(Status.DONE)) == 12
    assert sorted(asked) == ["7", "8"]


def test_the_reading_side_of_a_batch_loads_no_database():
    """What a batch needs before its first file is read (the runner, intake, the registry's
    checks) loads no SQLAlchemy: the database loads while the files are read."""
    code = "import sys, pipeline.run, pipeline.readahead; print('sqlalchemy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


_FIRST_COPY = """
import sys
from pathlib import Path
import pipeline.run
from evidence.storage.store import Store
from pipeline.intake import Submission
from pipeline.run import run_batch

root, folder = Path(sys.argv[1]), Path(sys.argv[2])
seen = []
real = pipeline.run.ReadAhead

class ReadAhead(real):
    def __init__(self, *a, **k):  # the reading threads start here, on the batch's thread
        seen.append(sorted(m for m in sys.modules if m.startswith("evidence.timestamping")))
        super().__init__(*a, **k)

pipeline.run.ReadAhead = ReadAhead
given = Submission(Path("."), "", "obs-early", "7")
run_batch(Store.open(root), [folder], given, dedupe=False)
print(seen[0])
"""


def test_the_first_file_is_copied_before_the_stampers_load(tmp_path):
    """A batch asks the store's config (not the stampers) whether an external TSA is to be
    asked first: the stampers (the token and receipt code, x509, asn1crypto) load while the
    first files are copied, not before the reading starts. (What is loaded is looked at as
    the reading threads start, on the batch's thread: looked at in a reading thread, it
    depended on which thread ran first.)"""
    from evidence.provision import init_store

    store_dir = tmp_path / "store"
    init_store(store_dir, org="Early")
    folder = _photos(tmp_path / "in", 2)
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_COPY, str(store_dir), str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "evidence.timestamping.stamping" not in out.stdout, out.stdout
    assert out.stdout.startswith("["), out.stdout


def test_an_item_handed_in_again_is_stamped_once_and_named_as_received_again(
    store_dir, tmp_path, monkeypatch
):
    """The same photo four times in one batch, on either side of its commits (one every two
    files), then once more in a later batch: one token for it, and every ingest after the
    first names the first (the index's entries are looked up while the files are read,
    before the batch's own commits add to it)."""
    folder = tmp_path / "in"
    make_photo(folder / "a.jpg", (10, 20, 30))
    same = (folder / "a.jpg").read_bytes()
    for name in ("b.jpg", "c.jpg", "d.jpg"):
        (folder / name).write_bytes(same)
    make_photo(folder / "e.jpg", (200, 20, 30))
    monkeypatch.setattr("pipeline.run.COMMIT_EVERY", 2)
    first = run_batch(Store.open(store_dir), [folder], _defaults(), dedupe=False)
    assert len(first.of(Status.DONE)) == 5
    again = run_batch(Store.open(store_dir), [folder / "a.jpg"], _defaults(), dedupe=False)
    assert len(again.of(Status.DONE)) == 1
    sha = hashlib.sha256(same).hexdigest()
    store = hooks.open_store(store_dir)
    assert len(store.index.tokens_for(sha)) == 1
    ingests = [
        e
        for e in (json.loads(line)["entry"] for line in store.log_path.read_bytes().splitlines())
        if e["event"] == "ingest" and e["item"]["sha256"] == sha
    ]
    assert [e["path"] for e in ingests] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "a.jpg"]
    assert "received_again" not in ingests[0]
    assert [e["received_again"]["first_seq"] for e in ingests[1:]] == [ingests[0]["seq"]] * 4
    assert audit.run(audit.StoreSource(Store.open(store_dir))).ok
