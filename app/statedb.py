"""The workspace's own state (accounts, sessions, settings, sign-ups): where it is kept.

By default each part is a SQLite file in the store's folder (``workspace/users.sqlite``,
``workspace/signups.sqlite``: mode 0600, as before). A store whose index is in PostgreSQL
(``dalel init --db``) keeps them as tables in that database, in a schema of their own
(``dalel_workspace``), so that every web server of a coalition, on any machine, shares the
same accounts and sessions.

Both are reached through :func:`connect` with the same SQL (``?`` placeholders, ``ON CONFLICT
... DO UPDATE``): on PostgreSQL the placeholders become ``%s``, ``BEGIN IMMEDIATE`` (SQLite's
write lock, taken before a check-then-insert) becomes a transaction holding an advisory lock
for the whole part, and the ``PRAGMA`` statements of SQLite are left out.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from evidence.storage.store import Store

SCHEMA = "dalel_workspace"
"""The PostgreSQL schema the workspace's tables are made in."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def executescript(self, script: str) -> None: ...

    def columns(self, table: str) -> set[str]: ...


def is_integrity_error(e: BaseException) -> bool:
    """Whether ``e`` is a constraint refused (a duplicate key), on either database."""
    if isinstance(e, sqlite3.IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover (a dependency)
        return False
    return isinstance(e, psycopg.errors.IntegrityError)


def on_postgres(store: Store) -> bool:
    """Whether the store keeps its index, and so the workspace's state, in PostgreSQL."""
    return store.index_url.startswith(("postgresql", "postgres"))


def exists(store: Store, path: Path) -> bool:
    """Whether the part kept at ``path`` (in a folder store) was ever made; on PostgreSQL,
    always (its tables are made at the first use, and empty until then)."""
    return on_postgres(store) or path.exists()


class _Sqlite:
    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.con.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.con.executemany(sql, rows)

    def executescript(self, script: str) -> None:
        self.con.executescript(script)

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.con.execute(f"PRAGMA table_info({table})")}


class _Postgres:
    def __init__(self, con: Any, part: str) -> None:
        self.con = con
        self.part = part

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        text = sql.strip()
        if text.upper().startswith("PRAGMA"):
            return self.con.execute("SELECT 1 WHERE false")  # (SQLite's own settings)
        if text.upper() == "BEGIN IMMEDIATE":
            self.con.execute("BEGIN")
            return self.con.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{SCHEMA}.{self.part}",)
            )
        return self.con.execute(sql.replace("?", "%s"), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.con.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def executescript(self, script: str) -> None:
        self.con.execute(script)

    def columns(self, table: str) -> set[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (SCHEMA, table),
        )
        return {r[0] for r in rows}


_pools: dict[str, Any] = {}
_made: set[tuple[int, str]] = set()
_pools_lock = threading.Lock()


def _pool(store: Store) -> Any:
    """One small pool of connections per database and process (autocommit, the workspace's
    schema first on the search path)."""
    import psycopg
    from psycopg_pool import ConnectionPool

    from pipeline.jobs import conninfo

    info = conninfo(store)
    with _pools_lock:
        pool = _pools.get(info)
        if pool is None:
            # one connection first, on its own: a server that is down is said at once (the
            # pool would keep trying until its timeout)
            psycopg.connect(info, connect_timeout=10).close()
            pool = ConnectionPool(
                info,
                min_size=0,
                max_size=8,
                kwargs={
                    "autocommit": True,
                    "options": f"-c search_path={SCHEMA}",
                    "connect_timeout": 10,
                },
                timeout=10,  # (a server that does not answer is said within seconds)
                open=True,
            )
            with pool.connection() as con:
                con.execute("SELECT pg_advisory_lock(hashtext('dalel-workspace-schema'))")
                try:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                finally:
                    con.execute("SELECT pg_advisory_unlock(hashtext('dalel-workspace-schema'))")
            _pools[info] = pool
    return pool


@contextmanager
def connect(store: Store, path: Path, schema: str) -> Iterator[Connection]:
    """A connection to the part of the workspace's state kept at ``path`` in a folder store
    (a SQLite file, made with mode 0600), or in the store's PostgreSQL database; ``schema``
    (its ``CREATE ... IF NOT EXISTS`` statements) is run first."""
    if on_postgres(store):
        from psycopg import pq

        pool = _pool(store)
        with pool.connection() as raw:
            con = _Postgres(raw, path.stem)
            if schema.strip() and (id(pool), schema) not in _made:  # (once a process)
                raw.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"{SCHEMA}.ddl",))
                try:
                    con.executescript(schema)
                finally:
                    raw.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"{SCHEMA}.ddl",))
                _made.add((id(pool), schema))
            try:
                yield con
            finally:
                if raw.info.transaction_status != pq.TransactionStatus.IDLE:
                    raw.execute("ROLLBACK")  # (a transaction left open: end it)
        return
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fresh = not path.exists()
    raw_sqlite = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if fresh:
            path.chmod(0o600)
        raw_sqlite.execute("PRAGMA journal_mode=WAL")
        if schema.strip():
            raw_sqlite.executescript(schema)
        for suffix in ("-wal", "-shm"):  # SQLite makes them with the umask's mode
            side = path.with_name(path.name + suffix)
            if side.exists() and side.stat().st_mode & 0o077:
                side.chmod(0o600)
        yield _Sqlite(raw_sqlite)
    finally:
        raw_sqlite.close()


# --- documents: a JSON document read and written whole (the observers' invites) ----------------
_DOCUMENTS = """
    CREATE TABLE IF NOT EXISTS documents(
        name TEXT PRIMARY KEY, body TEXT NOT NULL, version BIGINT NOT NULL);
"""


def document(store: Store, name: str) -> tuple[int, str] | None:
    """A document kept in the store's PostgreSQL database: (its version, its text), or None
    when it was never written. Every write makes a new version."""
    with connect(store, Path(name), _DOCUMENTS) as con:
        row = con.execute("SELECT version, body FROM documents WHERE name=?", (name,)).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def document_version(store: Store, name: str) -> int | None:
    """The version of a document (one small query: what a cache checks)."""
    with connect(store, Path(name), _DOCUMENTS) as con:
        row = con.execute("SELECT version FROM documents WHERE name=?", (name,)).fetchone()
    return int(row[0]) if row else None


@contextmanager
def document_locked(store: Store, name: str) -> Iterator[list[str]]:
    """A document read under a lock that every server of the coalition respects, as
    ``[text]`` (``""`` when never written); what the block leaves in the list is written
    back, as a new version, when it changed and the block ended normally."""
    with connect(store, Path(name), _DOCUMENTS) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute(
                "SELECT version, body FROM documents WHERE name=? FOR UPDATE", (name,)
            ).fetchone()
            held = [str(row[1]) if row else ""]
            before = held[0]
            yield held
            if held[0] != before:
                con.execute(
                    "INSERT INTO documents(name, body, version) VALUES (?,?,1) "
                    "ON CONFLICT(name) DO UPDATE SET body=excluded.body, "
                    "version=documents.version+1",
                    (name, held[0]),
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
