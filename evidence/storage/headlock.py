"""One sequencer for a log, whatever machine it runs on: the log's head in PostgreSQL.

A store whose index is in PostgreSQL may be written from more than one machine (each with
its copy of the store's folder, or one folder shared over the network, where file locks are
not to be trusted). Two things keep its log from forking:

- **one sequencer at a time**: the writer holds a PostgreSQL advisory lock, keyed by the
  store's id, for as long as it is open (besides the folder's own lock). A second writer
  waits for it like for the folder's lock, and gives up with :class:`StoreBusy` after the
  same wait;
- **compare-and-swap on the head** (as Sunlight does with its checkpoint): the table
  ``dalel_head`` holds, per store, the size of the log and the hash of its last line. A
  writer checks at open that its log is exactly that one, and before it writes any line it
  moves the head from what it had to what it is writing, in one ``UPDATE ... WHERE`` the
  database does atomically. A writer whose log is not the head's (another machine wrote, or
  this copy is an old one) writes nothing and says so; a writer whose lock was lost (its
  connection cut) finds its swap refused before a line reaches the log.
- **a move is confirmed once its lines are durable**: the swap keeps where the head was and
  marks the move unwritten; once the lines are in the log and synced, the writer confirms
  it (before any receipt names them). A writer stopped between the two (killed, or the
  machine lost power) leaves the head ahead of every log: the next writer whose log ends
  exactly where the unconfirmed move started moves the head back there (no receipt can
  name lines that were never confirmed), and a note in the quarantine says so. A log that
  holds the move's lines only confirms it. A writer killed in the middle of writing them
  (a write cut short by the kill) leaves a log that holds the first of them: it goes on
  from where the move started, and none of its lines past there was confirmed, so the head
  comes back to its end, with the same note (the next writer gives those lines their
  receipts). Any other difference is refused as before. Before a writer confirms lines
  another writer left unconfirmed, it makes them durable.

The writer (:mod:`evidence.storage.writer`) calls it through :class:`HeadGuard`'s four
methods (giving :meth:`HeadGuard.acquire` a view of its log, :class:`LogView`) and knows
nothing of databases.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from base.errors import StoreBusy, StoreCorrupt

TABLE = "dalel_head"


class HeadMoved(StoreCorrupt):
    """The log in this folder is not the one the database's head names: another sequencer
    wrote to it, or this copy is older than the log (exit code 1). Nothing was written."""


class LogView(Protocol):
    """What the head's checks read of the writer's log, besides its size and last hash."""

    def hash_at(self, size: int) -> str | None:
        """The hash of line ``size - 1`` (what a log of ``size`` lines ends with; the
        genesis hash for 0), None when the log has fewer lines."""
        ...

    def make_durable(self) -> None:
        """Sync the log's lines (another writer may have left them unsynced)."""
        ...


def lock_key(store_id: str) -> int:
    """The advisory lock's 64-bit key for a store (signed, as PostgreSQL takes it)."""
    digest = hashlib.sha256(b"dalel-sequencer:" + store_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class HeadGuard:
    """The head of one store's log in a PostgreSQL database (see the module's text)."""

    def __init__(self, url: str, store_id: str) -> None:
        self.url = url
        self.store_id = store_id
        self._engine: Any = None
        self._conn: Any = None
        #: set by :meth:`acquire` when it moved the head back over a move never written:
        #: (the head's size and last hash as found, the log's size it was moved back to)
        self.moved_back: tuple[int, str, int] | None = None

    # --- the writer's calls ------------------------------------------------------------
    def acquire(
        self,
        size: int,
        last_hash: str,
        log: LogView,
        *,
        wait: float,
        on_wait: Callable[[], None] | None,
    ) -> None:
        """Take the advisory lock (waiting up to ``wait`` seconds), then check that the log
        the writer loaded (``size`` lines, the last one hashing to ``last_hash``; ``log``
        reads more of it) is the head's; a store's first writer records it as the head."""
        from sqlalchemy.exc import SQLAlchemyError

        self.moved_back = None
        try:
            self._acquire(size, last_hash, log, wait=wait, on_wait=on_wait)
        except SQLAlchemyError as e:
            from evidence.storage.backends import DatabaseUnavailable

            self.release()
            raise DatabaseUnavailable(
                f"the store's database cannot be used: {_first_line(e)}",
                fix="check that PostgreSQL runs and the password is in PGPASSWORD or ~/.pgpass",
            ) from None

    def _acquire(
        self,
        size: int,
        last_hash: str,
        log: LogView,
        *,
        wait: float,
        on_wait: Callable[[], None] | None,
    ) -> None:
        from sqlalchemy import create_engine, text

        self._engine = create_engine(self.url, poolclass=_null_pool())
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            self._lock(wait, on_wait)
            self._conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (store TEXT PRIMARY KEY, "
                    "size BIGINT NOT NULL, last_hash TEXT NOT NULL, holder TEXT, "
                    "moved TIMESTAMPTZ NOT NULL DEFAULT now(), prev_size BIGINT, "
                    "prev_hash TEXT, written BOOLEAN NOT NULL DEFAULT true)"
                )
            )
            self._add_confirmation_columns()
            self._conn.execute(
                text(
                    f"INSERT INTO {TABLE} (store, size, last_hash, holder) "
                    "VALUES (:s, :n, :h, :who) ON CONFLICT (store) DO NOTHING"
                ),
                {"s": self.store_id, "n": size, "h": last_hash, "who": _holder()},
            )
            row = self._conn.execute(
                text(
                    f"SELECT size, last_hash, holder, prev_size, prev_hash, written FROM {TABLE} "
                    "WHERE store = :s"
                ),
                {"s": self.store_id},
            ).one()
            head = (int(row.size), row.last_hash)
            if head == (size, last_hash):
                if not row.written:  # its writer stopped once the lines were written
                    log.make_durable()
                    self._confirm(head)
                return
            if not row.written and row.prev_size is not None:
                prev = (int(row.prev_size), row.prev_hash)
                # its writer stopped between moving the head and writing the lines, or in
                # the middle of writing them: the lines past ``prev`` are in no log a
                # receipt was given from; the head comes back to this log's end, when this
                # log goes on from where the move started (and not past where it ended)
                if prev == (size, last_hash) or (
                    prev[0] < size < head[0] and log.hash_at(prev[0]) == prev[1]
                ):
                    if size > prev[0]:
                        log.make_durable()
                    if self._swap(head, (size, last_hash), written=True, expect_written=False):
                        self.moved_back = (head[0], head[1], size)
                        return
            differs = (
                f"has {size} entries here, but its sequencer's head in the database says "
                f"{int(row.size)}"
                if int(row.size) != size
                else f"ends here with another entry {size - 1} than the one its "
                "sequencer's head in the database names"
            )
            raise HeadMoved(
                f"this store's log {differs} (last written by {row.holder}): another "
                "machine has written to the log, or this copy of the store is an older or "
                "altered one; nothing was written",
                fix="write from the machine that holds the current log (or bring this "
                "copy up to date from it), then run `dalel audit`",
            )
        except BaseException:
            self.release()
            raise

    def advance(self, old: tuple[int, str], new: tuple[int, str]) -> None:
        """Move the head from ``old`` to ``new`` (size, last line's hash) before the lines
        are written; refused (:class:`HeadMoved`) when the head is no longer ``old``."""
        from sqlalchemy.exc import SQLAlchemyError

        assert self._conn is not None, "the head is not held"
        try:
            moved = self._swap(old, new, written=False)
        except SQLAlchemyError:
            raise HeadMoved(
                "the connection to the database holding this log's head was lost (its lock "
                "with it: another sequencer may be writing now); nothing more was written",
                fix="stop this writer and start it again; then run `dalel audit`",
            ) from None
        if moved != 1:
            raise HeadMoved(
                "the log's head in the database moved while this writer held it (its lock "
                "was lost, or another sequencer wrote past it); nothing more was written",
                fix="stop this writer, then run `dalel audit` on the machine that holds the "
                "current log",
            )

    def give_back(self, new: tuple[int, str], old: tuple[int, str]) -> None:
        """Move the head back from ``new`` to ``old`` after the lines of that move could not be
        written (the log ends where it did); best effort: when it fails, the next writer's
        open moves it back (the move was never confirmed)."""
        with contextlib.suppress(Exception):
            self._swap(new, old, written=True)

    def confirm(self, new: tuple[int, str]) -> None:
        """Say that the lines of the last :meth:`advance` (to ``new``) are durable in the log:
        from now on no writer may move the head back over them. Refused (:class:`HeadMoved`)
        when the head is no longer ``new``."""
        from sqlalchemy.exc import SQLAlchemyError

        assert self._conn is not None, "the head is not held"
        try:
            confirmed = self._confirm(new)
        except SQLAlchemyError:
            confirmed = 0
        if confirmed != 1:
            raise HeadMoved(
                "the lines just written could not be confirmed in the database holding this "
                "log's head (the connection or its lock was lost); no receipt was given for "
                "them and nothing more was written",
                fix="stop this writer and start it again; then run `dalel audit`",
            )

    def _confirm(self, new: tuple[int, str]) -> int:
        from sqlalchemy import text

        return int(
            self._conn.execute(
                text(
                    f"UPDATE {TABLE} SET written = true "
                    "WHERE store = :s AND size = :n AND last_hash = :h"
                ),
                {"s": self.store_id, "n": new[0], "h": new[1]},
            ).rowcount
        )

    def _swap(
        self,
        old: tuple[int, str],
        new: tuple[int, str],
        *,
        written: bool,
        expect_written: bool | None = None,
    ) -> int:
        """Move the head from ``old`` to ``new`` (keeping ``old`` as where it was), marked
        ``written`` or not; with ``expect_written``, only a head so marked moves."""
        from sqlalchemy import text

        only = "" if expect_written is None else " AND written = :ew"
        return int(
            self._conn.execute(
                text(
                    f"UPDATE {TABLE} SET size = :n, last_hash = :h, holder = :who, moved = now(), "
                    "prev_size = :on, prev_hash = :oh, written = :w "
                    "WHERE store = :s AND size = :on AND last_hash = :oh" + only
                ),
                {
                    "s": self.store_id,
                    "n": new[0],
                    "h": new[1],
                    "on": old[0],
                    "oh": old[1],
                    "w": written,
                    "ew": expect_written,
                    "who": _holder(),
                },
            ).rowcount
        )

    def _add_confirmation_columns(self) -> None:
        """A table made before moves were confirmed gets their columns (a head there counts
        as written)."""
        from sqlalchemy import text

        have = {
            r[0]
            for r in self._conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = :t AND table_schema = current_schema()"
                ),
                {"t": TABLE},
            )
        }
        if "written" not in have:
            self._conn.execute(
                text(
                    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS prev_size BIGINT, "
                    "ADD COLUMN IF NOT EXISTS prev_hash TEXT, "
                    "ADD COLUMN IF NOT EXISTS written BOOLEAN NOT NULL DEFAULT true"
                )
            )

    def release(self) -> None:
        """Let the lock go and close the connection (idempotent)."""
        conn, engine = self._conn, self._engine
        self._conn = self._engine = None
        if conn is not None:
            with contextlib.suppress(Exception):  # (a connection already cut holds nothing)
                conn.close()  # (a session's advisory locks end with it)
        if engine is not None:
            engine.dispose()

    # --- inside ----------------------------------------------------------------------
    def _lock(self, wait: float, on_wait: Callable[[], None] | None) -> None:
        from sqlalchemy import text

        key = lock_key(self.store_id)
        deadline = time.monotonic() + wait
        told = False
        while not self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if time.monotonic() > deadline:
                raise StoreBusy(
                    "another sequencer (on this machine or another) has been writing this "
                    "store's log for too long",
                    fix="wait for it to finish, or stop the other `dalel serve` or command",
                )
            if not told and on_wait:
                on_wait()
                told = True
            time.sleep(0.1)


def _first_line(e: BaseException) -> str:
    lines = str(getattr(e, "orig", None) or e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool
