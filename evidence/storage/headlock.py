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

The writer (:mod:`evidence.storage.writer`) calls it through :class:`HeadGuard`'s three
methods and knows nothing of databases.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from base.errors import StoreBusy, StoreCorrupt

TABLE = "dalel_head"


class HeadMoved(StoreCorrupt):
    """The log in this folder is not the one the database's head names: another sequencer
    wrote to it, or this copy is older than the log (exit code 1). Nothing was written."""


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

    # --- the writer's three calls ------------------------------------------------------
    def acquire(
        self, size: int, last_hash: str, *, wait: float, on_wait: Callable[[], None] | None
    ) -> None:
        """Take the advisory lock (waiting up to ``wait`` seconds), then check that the log
        the writer loaded (``size`` lines, the last one hashing to ``last_hash``) is the
        head's; a store's first writer records it as the head."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._acquire(size, last_hash, wait=wait, on_wait=on_wait)
        except SQLAlchemyError as e:
            from evidence.storage.backends import DatabaseUnavailable

            self.release()
            raise DatabaseUnavailable(
                f"the store's database cannot be used: {_first_line(e)}",
                fix="check that PostgreSQL runs and the password is in PGPASSWORD or ~/.pgpass",
            ) from None

    def _acquire(
        self, size: int, last_hash: str, *, wait: float, on_wait: Callable[[], None] | None
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
                    "moved TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
            )
            self._conn.execute(
                text(
                    f"INSERT INTO {TABLE} (store, size, last_hash, holder) "
                    "VALUES (:s, :n, :h, :who) ON CONFLICT (store) DO NOTHING"
                ),
                {"s": self.store_id, "n": size, "h": last_hash, "who": _holder()},
            )
            row = self._conn.execute(
                text(f"SELECT size, last_hash, holder FROM {TABLE} WHERE store = :s"),
                {"s": self.store_id},
            ).one()
            if (int(row.size), row.last_hash) != (size, last_hash):
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
            moved = self._swap(old, new)
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

    def _swap(self, old: tuple[int, str], new: tuple[int, str]) -> int:
        from sqlalchemy import text

        return int(
            self._conn.execute(
                text(
                    f"UPDATE {TABLE} SET size = :n, last_hash = :h, holder = :who, moved = now() "
                    "WHERE store = :s AND size = :on AND last_hash = :oh"
                ),
                {
                    "s": self.store_id,
                    "n": new[0],
                    "h": new[1],
                    "on": old[0],
                    "oh": old[1],
                    "who": _holder(),
                },
            ).rowcount
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
