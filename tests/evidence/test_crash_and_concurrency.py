"""Killing an ingest at any moment leaves an intact store; two writers never corrupt it."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evidence import audit
from evidence.core import receipts
from evidence.storage.store import Store
from tests.conftest import ROOT, dalel_subprocess


def _folder(root: Path, n: int, tag: str) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        (root / f"{tag}-{i:04d}.txt").write_bytes(f"{tag} evidence {i}\n".encode() * 20)
    return root


def _check_intact(store_dir: Path) -> int:
    store = Store.open(store_dir)
    report = audit.run(audit.StoreSource(store))
    assert report.ok, [f.to_dict() for f in report.failures]
    key = store.public_key()
    n = 0
    for p in store.receipt_paths():
        r = json.loads(p.read_text())
        rep = receipts.verify_against_store(r, receipts.verify(r, key), store)
        assert rep.ok, (p, [c.to_dict() for c in rep.failures])
        n += 1
    return n


def _start_ingest(
    store_dir: Path, folder: Path, observer: str, commit_every: int = 500
) -> subprocess.Popen:
    import os

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "--store",
            str(store_dir),
            "ingest",
            str(folder),
            "--observer",
            observer,
            "--precinct",
            "4",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "DALEL_COMMIT_EVERY": str(commit_every)},
    )


@pytest.mark.slow
def test_kill_at_many_points_leaves_a_store_that_passes_audit(store_dir, tmp_path, backend):
    # With the objects in S3 each round's audit downloads every object again: fewer files a
    # batch there (the points killed at are the same: the writer's, not the backend's)
    n = 150 if backend == "folder" else 40
    rng = random.Random(20261121)
    t0 = time.monotonic()
    p = _start_ingest(store_dir, _folder(tmp_path / "warm", n, "warm"), "obs-warm", 7)
    p.communicate(timeout=300)
    full = time.monotonic() - t0
    assert p.returncode == 0
    receipted = _check_intact(store_dir)
    kills = 0
    for round_ in range(16):
        folder = _folder(tmp_path / f"batch{round_}", n, f"b{round_}")
        p = _start_ingest(store_dir, folder, f"obs-{round_}", 7)
        time.sleep(rng.uniform(0.05, full * 1.1))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.communicate(timeout=300)
        now = _check_intact(store_dir)
        assert now >= receipted, "a receipt disappeared"
        receipted = now
    assert kills >= 8, f"only {kills} of 16 runs were killed mid-way"
    assert receipted > n, "kills mid-batch left no committed receipts to check"
    # The next writer finishes what was owed: every logged ingest gets its receipt.
    r = dalel_subprocess(
        "--store",
        store_dir,
        "ingest",
        _folder(tmp_path / "last", 3, "last"),
        "--observer",
        "obs-last",
        "--precinct",
        "4",
    )
    assert r.returncode == 0, r.stderr
    store = Store.open(store_dir)
    ingests = sum(1 for line in store.log_lines() if b'"event":"ingest"' in line)
    assert _check_intact(store_dir) == ingests


#: Run the CLI with its first write to the log cut short by a kill: the first line and half
#: the second reach the log (as when SIGKILL lands while the kernel copies a write that spans
#: pages), then the process dies.
_CUT_WRITE = """
import os, signal
from evidence.storage import writer


class _Os:
    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        data = bytes(data)
        first = data.index(b"\\n") + 1
        second = data.index(b"\\n", first) + 1
        os.write(fd, data[: first + (second - first) // 2])
        os.kill(os.getpid(), signal.SIGKILL)


writer.os = _Os()
from cli.main import run

run()
"""


def test_a_write_cut_short_by_a_kill_keeps_its_whole_lines_and_the_next_writer_owes_them_nothing(
    store_dir, tmp_path, backend
):
    """A kill in the middle of the log's write leaves the batch's first lines in the log and
    not the rest (its items' timestamp entry, written after them, among them). The next
    writer cuts the torn line off, takes the whole ones as the log (with the head in the
    database: it was moved for the whole batch, never confirmed, and comes back to them),
    stamps their items and gives them their receipts: the store passes audit, every logged
    ingest receipted and stamped."""
    log = store_dir / "log" / "custody.jsonl"
    before = len(log.read_bytes().splitlines())
    killed = subprocess.run(
        [sys.executable, "-c", _CUT_WRITE, "--store", str(store_dir), "ingest",
         str(_folder(tmp_path / "cut", 3, "cut")), "--observer", "obs-cut", "--precinct", "4"],
        capture_output=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    data = log.read_bytes()
    assert not data.endswith(b"\n") and data.count(b"\n") == before + 1  # one whole line
    _check_intact(store_dir)  # (a torn tail and unsigned entries are notes, not failures)
    r = dalel_subprocess(
        "--store", store_dir, "ingest", _folder(tmp_path / "next", 2, "next"),
        "--observer", "obs-next", "--precinct", "4",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    store = Store.open(store_dir)
    lines = list(store.log_lines())
    assert lines[before] == data.splitlines()[before]  # the whole line stayed, first after
    ingests = [i for i, line in enumerate(lines) if b'"event":"ingest"' in line]
    assert sum(1 for i in ingests if i >= before) == 1 + 2  # the cut batch's one, then two
    ingests = len(ingests)
    assert _check_intact(store_dir) == ingests  # each receipted, and audit has no failure
    notes = {p.name.split("-", 1)[1] for p in store.quarantine_dir.iterdir()}
    assert "torn-log-append" in notes
    assert ("head-moved-back" in notes) == (backend == "national")


def test_a_torn_append_is_a_note_then_moved_to_quarantine(filled_store, tmp_path):
    log = filled_store / "log" / "custody.jsonl"
    with open(log, "ab") as f:
        f.write(b'{"entry":{"actor":')
    report = audit.run(audit.StoreSource(Store.open(filled_store)))
    assert report.ok
    assert audit.Reason.TORN_APPEND in {f.reason for f in report.findings}
    r = dalel_subprocess(
        "--store",
        filled_store,
        "ingest",
        _folder(tmp_path / "x", 1, "x"),
        "--observer",
        "obs-x",
        "--precinct",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert log.read_bytes().endswith(b"\n")
    frag = [
        q for q in (filled_store / "quarantine").iterdir() if q.name.endswith("torn-log-append")
    ]
    assert len(frag) == 1 and (frag[0] / "fragment").read_bytes() == b'{"entry":{"actor":'
    assert _check_intact(filled_store) == 4


def test_two_ingests_at_once_do_not_corrupt_the_log(store_dir, tmp_path):
    a = _start_ingest(store_dir, _folder(tmp_path / "a", 120, "a"), "obs-a")
    b = _start_ingest(store_dir, _folder(tmp_path / "b", 120, "b"), "obs-b")
    for p in (a, b):
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _check_intact(store_dir) == 240
    entries = [
        json.loads(ln)["entry"]
        for ln in (store_dir / "log" / "custody.jsonl").read_bytes().splitlines()
    ]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    assert sum(1 for e in entries if e["event"] == "ingest") == 240
