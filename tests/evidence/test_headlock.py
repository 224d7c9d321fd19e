"""One sequencer per log across machines: the log's head in PostgreSQL (a real server).

"Machines" here are copies of one store's folder sharing its PostgreSQL database, as a store
written from several hosts is: each has its own folder lock, so only the database can keep
two of them from writing at once, or one from writing past the other.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from base.errors import StoreBusy
from evidence.core import events
from evidence.provision import init_store
from evidence.storage.headlock import TABLE, HeadMoved
from evidence.storage.store import Store
from tests.conftest import ROOT, VALID_IIN, make_photo


@pytest.fixture
def shared(postgres_server, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A store in PostgreSQL and a second copy of its folder (another machine)."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    a = tmp_path / "machine-a"
    init_store(a, org="Coalition", db=postgres_server.create_database())
    _ingest(a, tmp_path / "first.jpg", (10, 20, 30))
    b = tmp_path / "machine-b"
    shutil.copytree(a, b)
    return a, b


def _ingest(store: Path, photo: Path, colour: tuple[int, int, int]) -> subprocess.CompletedProcess:
    make_photo(photo, colour)
    return subprocess.run(
        [sys.executable, "-m", "cli", "--store", store, "ingest", photo,
         "--observer", VALID_IIN, "--precinct", "7"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def _head(pg, store: Path) -> tuple[int, str]:
    s = Store.open(store)
    with psycopg.connect(pg.dsn(s.index_url.rsplit("/", 1)[1])) as c:
        row = c.execute(
            f"SELECT size, last_hash FROM {TABLE} WHERE store = %s", (s.config.store_id,)
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_a_copy_behind_the_head_writes_nothing_and_says_why(shared, postgres_server, tmp_path):
    a, b = shared
    assert _ingest(a, tmp_path / "second.jpg", (40, 50, 60)).returncode == 0
    log_b = (b / "log" / "custody.jsonl").read_bytes()
    r = _ingest(b, tmp_path / "third.jpg", (70, 80, 90))
    assert r.returncode == 1, r.stderr
    assert "another machine has written to the log" in r.stderr and "Traceback" not in r.stderr
    assert (b / "log" / "custody.jsonl").read_bytes() == log_b  # nothing written
    lines = (a / "log" / "custody.jsonl").read_bytes().splitlines()
    from evidence.core import custody

    assert _head(postgres_server, a) == (len(lines), custody.line_hash(lines[-1]))
    audit = subprocess.run(
        [sys.executable, "-m", "cli", "--store", a, "audit"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout


def test_two_sequencers_at_once_one_waits_then_gives_up(shared):
    a, b = shared
    first = Store.open(a).writer(wait=5).open()
    try:
        t = time.monotonic()
        with pytest.raises(StoreBusy, match="another sequencer"):
            Store.open(b).writer(wait=0.5).open()
        assert 0.4 < time.monotonic() - t < 5
    finally:
        first.close()
    second = Store.open(b).writer(wait=0.5).open()  # the lock is free again: b may write
    second.close()


def test_a_sequencer_whose_lock_was_lost_writes_no_line(shared, postgres_server, tmp_path):
    """A's connection to the database is cut while it holds the log (its advisory lock ends
    with it); B takes over and writes; A's next commit is refused before its lines reach A's
    log: the two never fork."""
    a, b = shared
    writer_a = Store.open(a).writer(wait=1).open()
    try:
        db = Store.open(a).index_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_server.dsn(db), autocommit=True) as c:
            cut = c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert cut == [(True,)]  # A's session, the one holding the lock
        assert _ingest(b, tmp_path / "b.jpg", (1, 1, 1)).returncode == 0  # B took over
        log_a = (a / "log" / "custody.jsonl").read_bytes()
        writer_a.append({"event": events.USER_SIGN_OUT, "user": "someone"})
        with pytest.raises(HeadMoved):
            writer_a.commit()
        assert (a / "log" / "custody.jsonl").read_bytes() == log_a  # no line written
    finally:
        writer_a.close()


def test_two_commands_at_once_on_one_folder_both_land(shared, tmp_path):
    """The folder's lock and the database's together: two ingests started at once on one
    machine both land, one after the other, and the log audits intact."""
    a, _ = shared
    photos = [make_photo(tmp_path / f"p{i}.jpg", (i * 40, 9, 9)) for i in range(2)]
    cmd = [sys.executable, "-m", "cli", "--store", a, "ingest"]
    cmd += ["--observer", VALID_IIN, "--precinct"]
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen([*cmd, "7", p], stdout=pipe, stderr=pipe, text=True, cwd=ROOT)
        for p in photos
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    audit = subprocess.run(
        [sys.executable, "-m", "cli", "--store", a, "audit", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout
    assert '"entries": ' in audit.stdout


# A writer killed between moving the head and confirming its lines (the head's two steps).
_DIE = """
import os, signal, sys
from evidence.storage import headlock

point = sys.argv.pop(1)
real = getattr(headlock.HeadGuard, point)


def die(self, *args, **kwargs):
    if point == "advance":  # the head moves, then the process is killed before the write
        real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # "confirm": the lines are durable, not confirmed


setattr(headlock.HeadGuard, point, die)
from cli.main import run

run()
"""


def _ingest_killed_at(point: str, store: Path, photo: Path) -> subprocess.CompletedProcess:
    make_photo(photo, (200, 100, 50))
    return subprocess.run(
        [sys.executable, "-c", _DIE, point, "--store", store, "ingest", photo,
         "--observer", VALID_IIN, "--precinct", "7"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def _log_head(store: Path) -> tuple[int, str]:
    from evidence.core import custody

    lines = (store / "log" / "custody.jsonl").read_bytes().splitlines()
    return len(lines), custody.line_hash(lines[-1])


def _audit_ok(store: Path) -> None:
    audit = subprocess.run(
        [sys.executable, "-m", "cli", "--store", store, "audit"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _written(pg, store: Path) -> bool:
    s = Store.open(store)
    with psycopg.connect(pg.dsn(s.index_url.rsplit("/", 1)[1])) as c:
        row = c.execute(f"SELECT written FROM {TABLE} WHERE store = %s", (s.config.store_id,))
        return bool(row.fetchone()[0])  # type: ignore[index]


def test_killed_after_moving_the_head_before_writing_the_next_writer_moves_it_back(
    shared, postgres_server, tmp_path
):
    """The head is in PostgreSQL, durable as soon as it moves; the lines were never written.
    The next writer must not take the store for another machine's: it moves the head back to
    its log's end, says so in the quarantine, and writes on."""
    a, _ = shared
    before = _log_head(a)
    killed = _ingest_killed_at("advance", a, tmp_path / "killed.jpg")
    assert killed.returncode == -9, killed.stderr
    assert _log_head(a) == before  # not a line written
    assert _head(postgres_server, a)[0] > before[0]  # but the head had moved
    assert not _written(postgres_server, a)
    r = _ingest(a, tmp_path / "next.jpg", (5, 6, 7))
    assert r.returncode == 0, r.stderr
    assert _head(postgres_server, a) == _log_head(a)
    assert _written(postgres_server, a)
    notes = [q for q in (a / "quarantine").iterdir() if q.name.endswith("head-moved-back")]
    assert len(notes) == 1
    assert b'"log_size":%d' % before[0] in (notes[0] / "reason.json").read_bytes()
    _audit_ok(a)


def test_killed_after_writing_before_confirming_the_lines_stay_and_the_head_with_them(
    shared, postgres_server, tmp_path
):
    """The lines are durable, the head not confirmed: the next writer of that folder confirms
    it and writes on; a copy behind it is then refused as before."""
    a, b = shared
    before = _log_head(a)
    killed = _ingest_killed_at("confirm", a, tmp_path / "killed.jpg")
    assert killed.returncode == -9, killed.stderr
    assert _log_head(a)[0] > before[0]  # its lines are in the log
    assert _head(postgres_server, a) == _log_head(a) and not _written(postgres_server, a)
    assert _ingest(a, tmp_path / "next.jpg", (5, 6, 7)).returncode == 0
    assert _written(postgres_server, a) and _head(postgres_server, a) == _log_head(a)
    r = _ingest(b, tmp_path / "b.jpg", (9, 9, 9))
    assert r.returncode == 1 and "another machine has written to the log" in r.stderr
    _audit_ok(a)


def test_a_move_never_confirmed_is_no_ones_so_a_copy_behind_it_may_write_and_the_other_not(
    shared, postgres_server, tmp_path
):
    """Machine A wrote its lines and was killed before confirming them (no receipt was given
    for them). B's copy ends where A's move started: B moves the head back and writes; A's
    unconfirmed lines are then a fork, and A is refused, not silently diverging."""
    a, b = shared
    assert _log_head(a) == _log_head(b)
    killed = _ingest_killed_at("confirm", a, tmp_path / "killed.jpg")
    assert killed.returncode == -9, killed.stderr
    receipts_a = sorted(p.name for p in (a / "receipts").rglob("*") if p.is_file())
    assert _ingest(b, tmp_path / "b.jpg", (9, 9, 9)).returncode == 0
    assert _head(postgres_server, b) == _log_head(b)
    log_a = (a / "log" / "custody.jsonl").read_bytes()
    r = _ingest(a, tmp_path / "a.jpg", (8, 8, 8))
    assert r.returncode == 1 and "another machine has written to the log" in r.stderr
    assert (a / "log" / "custody.jsonl").read_bytes() == log_a
    # no receipt was given for A's lines that were never confirmed
    assert sorted(p.name for p in (a / "receipts").rglob("*") if p.is_file()) == receipts_a
    _audit_ok(b)


def test_a_head_table_from_before_confirmation_gets_its_columns(shared, postgres_server, tmp_path):
    a, _ = shared
    s = Store.open(a)
    with psycopg.connect(postgres_server.dsn(s.index_url.rsplit("/", 1)[1])) as c:
        c.execute(
            f"ALTER TABLE {TABLE} DROP COLUMN prev_size, DROP COLUMN prev_hash, DROP COLUMN written"
        )
    assert _ingest(a, tmp_path / "next.jpg", (5, 6, 7)).returncode == 0
    assert _written(postgres_server, a) and _head(postgres_server, a) == _log_head(a)


class _Log:
    """A writer's log as the head's checks see it: the hash at each size, and its syncs."""

    def __init__(self, hashes: dict[int, str]) -> None:
        self.hashes = hashes
        self.synced = 0

    def hash_at(self, size: int) -> str | None:
        return self.hashes.get(size)

    def make_durable(self) -> None:
        self.synced += 1


def test_a_log_holding_the_first_lines_of_a_move_never_confirmed_takes_the_head_back_to_them(
    postgres_server, monkeypatch
):
    """A writer moved the head from 5 to 9 entries and was killed with 2 of its 4 lines
    written: a log of 7 entries going on from the head's 5 gets the head (synced first);
    one of 7 whose 5th entry is another is refused, as is one past the move's end."""
    from evidence.storage.headlock import HeadGuard

    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    first = HeadGuard(url, "store-1")
    first.acquire(5, "h5", _Log({5: "h5"}), wait=1, on_wait=None)
    first.advance((5, "h5"), (9, "h9"))
    first.release()  # (killed: the move is never confirmed)
    for log in (_Log({5: "other", 7: "h7"}), _Log({5: "h5", 10: "h10"})):
        size = max(log.hashes)
        with pytest.raises(HeadMoved):
            HeadGuard(url, "store-1").acquire(size, log.hashes[size], log, wait=1, on_wait=None)
        assert log.synced == 0
    log = _Log({5: "h5", 7: "h7"})
    again = HeadGuard(url, "store-1")
    again.acquire(7, "h7", log, wait=1, on_wait=None)
    assert again.moved_back == (9, "h9", 7) and log.synced == 1
    again.advance((7, "h7"), (8, "h8"))  # the head is this log's: it moves on from it
    again.confirm((8, "h8"))
    again.release()
