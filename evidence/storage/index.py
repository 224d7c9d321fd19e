"""The SQLite index over the custody log: fast look-ups, rebuildable at any time.

The log is the source of truth; this index is derived from it (``catch_up`` replays what
it has not seen; ``rebuild`` starts over). It is reached through SQLAlchemy Core so that
a coalition can point it at PostgreSQL without touching the stages.

The index is trusted for nothing but finding entries. Each entry row names where its line
is in the log (byte offset and length) and the line's SHA-256; every entry a query returns is
read from the log itself, and the row is checked against it (its hash, its sequence number
and every column derived from it); an item or token row is checked against the entry it
came from. A row that disagrees raises :class:`IndexMismatch`: someone changed the index
outside Dalel. What a query could *leave out* (a row deleted, an event renamed) is found by
:meth:`Index.mismatches`, which compares the whole index with the log; dossiers and audits
call it.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import bindparam, create_engine, delete, event, func, insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from base import oneshot
from base.errors import cannot_write
from evidence.core import custody
from evidence.storage import index_check
from evidence.storage import log as logfile
from evidence.storage.index_schema import (
    LOG_BYTES,
    SCHEMA,
    TABLES,
    IndexMismatch,
    Mismatch,
    differs,
    entries,
    entry_row,
    item_row,
    items,
    meta,
    metadata,
    token_key,
    token_rows,
    tokens,
)

#: An item's entries, in log order: one statement for every call (a batch's reading threads
#: ask it of every file; a new statement each time cost SQLAlchemy 0.3 CPU-ms to set up).
_HISTORY = select(entries).where(entries.c.subject == bindparam("subject")).order_by(entries.c.seq)

if TYPE_CHECKING:
    from evidence.storage.store import Store
    from evidence.storage.writer import Commit, Writer


def _read_only_medium(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _engine(store: Store) -> Engine:
    engine = _make_engine(store)
    oneshot.close_at_end(engine.dispose)  # its connections closed before a one-shot end
    return engine


def _make_engine(store: Store) -> Engine:
    if store.index_url == f"sqlite:///{store.index_path}" and _read_only_medium(store.root):
        # A store on a read-only medium (a copy kept for an audit, a read-only mount): SQLite
        # cannot make the files write-ahead logging needs, so the index is opened as the
        # unchanging file it is. (Writing commands stop earlier: the disk is read-only.)
        uri = f"file:{store.index_path}?mode=ro&immutable=1"
        return create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), future=True
        )
    engine = create_engine(store.index_url, future=True)
    if engine.dialect.name == "sqlite":
        # Write-ahead logging: an audit comparing the whole index (seconds on a large store)
        # reads one snapshot without holding up a writer's commit, and a writer waits for a
        # moment's lock instead of failing at once.
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA busy_timeout = 60000")
            try:
                cur.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error:
                pass  # a store on a read-only medium: read as it is
            cur.close()

    return engine


#: How many times a catch-up racing another process's starts again.
_RACES = 20


class Index:
    """The index of one store. Build it once per opened store (``Store.index``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = _engine(store)
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        """Create the tables; drop an index of another layout (it is rebuilt from the log).
        Two processes opening a new store at once may race to create a table: the loser
        finds it made and looks again."""
        for attempt in range(5):
            try:
                self._make_schema()
                return
            except SQLAlchemyError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _make_schema(self) -> None:
        with self.engine.begin() as c:
            found = inspect(c)
            # (asked first: a failed query would end a PostgreSQL transaction)
            version = (
                c.execute(select(meta.c.value).where(meta.c.key == "schema")).scalar()
                if found.has_table(meta.name)
                else None
            )
            if version == SCHEMA:
                return
            old_layout = any(
                found.has_table(t.name)
                and {col["name"] for col in found.get_columns(t.name)} != set(t.columns.keys())
                for t in TABLES
            )
            if version is None and not old_layout:
                # a new index, or one another process is making this very moment (some of
                # its tables made, its mark not yet): never drop what it made (an audit
                # reading it would find its tables gone)
                metadata.create_all(c)
                mark = c.execute(select(meta.c.value).where(meta.c.key == "schema")).scalar()
                if mark is None:  # (a racing process's mark first: the retry finds it)
                    c.execute(insert(meta), [{"key": "schema", "value": SCHEMA}])
                return
            for t in TABLES:
                t.drop(c, checkfirst=True)
            # An index of version 1 had no layout mark and other columns: drop them by name.
            metadata.drop_all(c, checkfirst=True)
            metadata.create_all(c)
            c.execute(insert(meta), [{"key": "schema", "value": SCHEMA}])

    def last_seq(self) -> int:
        """Highest indexed sequence number, -1 when empty."""
        with self.engine.connect() as c:
            v = c.execute(select(func.max(entries.c.seq))).scalar()
        return -1 if v is None else int(v)

    def _new_lines(self, start: int) -> Iterator[tuple[int, bytes, int]]:
        """Log lines from ``start`` on, each with where it starts in the log: from the byte
        offset the index recorded when it still names the last indexed line, else by reading
        the log from its beginning."""
        path = self.store.log_path
        with self.engine.connect() as c:
            offset = c.execute(select(meta.c.value).where(meta.c.key == LOG_BYTES)).scalar()
            known = (
                c.execute(select(entries.c.line_hash).where(entries.c.seq == start - 1)).scalar()
                if start
                else None
            )
        pos = 0
        if offset is not None and start and int(offset) <= path.stat().st_size:
            tail = logfile.last_lines(path, 1, end=int(offset))
            if tail and custody.line_hash(tail[0]) == known:
                pos = int(offset)
                for seq, line in enumerate(logfile.lines_after(path, pos), start=start):
                    yield seq, line, pos
                    pos += len(line) + 1
                return
        for seq, line in enumerate(logfile.read_log_lines(path)):
            if seq >= start:
                yield seq, line, pos
            pos += len(line) + 1

    def catch_up(self) -> int:
        """Index every log entry not yet indexed; returns how many were added. Readers that
        are not the writer catch up too (``show``, ``dossier verify``): when two do at once,
        the one that finds its rows already written by the other (the same rows: the index
        is made from the log) starts again from where the other got."""
        for attempt in range(_RACES):
            try:
                return self._catch_up()
            except IntegrityError:
                if attempt == _RACES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        return 0  # not reached

    def _catch_up(self) -> int:
        start = self.last_seq() + 1
        added = 0
        covered: int | None = None
        batch: list[tuple[int, bytes, dict[str, Any], int]] = []
        with self.engine.begin() as c:
            for seq, line, offset in self._new_lines(start):
                batch.append((seq, line, custody.parse_line(line).entry, offset))
                covered = offset + len(line) + 1
                if len(batch) >= 2000:
                    added += self._index(c, batch)
                    batch = []
            if batch:
                added += self._index(c, batch)
            if covered is not None:
                self._set_log_bytes(c, covered)
        return added

    def _set_log_bytes(self, c: Any, value: int) -> None:
        c.execute(delete(meta).where(meta.c.key == LOG_BYTES))
        c.execute(insert(meta), [{"key": LOG_BYTES, "value": str(value)}])

    def add(self, lines: list[tuple[int, bytes, dict[str, Any]]], log_bytes: int) -> int:
        """Index lines a writer has just committed, with their parsed entries (skipping any
        already indexed): consecutive lines, the last of which ends at byte ``log_bytes``
        of the log. Lines that are not consecutive are indexed by catching up instead."""
        start = self.last_seq() + 1
        if any(b[0] != a[0] + 1 for a, b in itertools.pairwise(lines)):
            return self.catch_up()
        placed: list[tuple[int, bytes, dict[str, Any], int]] = []
        end = log_bytes
        for seq, line, e in reversed(lines):
            end -= len(line) + 1
            placed.append((seq, line, e, end))
        todo = [t for t in reversed(placed) if t[0] >= start]
        if not todo:
            return 0
        if todo[0][0] != start:
            return self.catch_up()
        try:
            with self.engine.begin() as c:
                n = self._index(c, todo)
                self._set_log_bytes(c, log_bytes)
                return n
        except IntegrityError:  # a reader caught up with these lines first
            return self.catch_up()

    def rebuild(self) -> int:
        """Drop everything and index the whole log again."""
        with self.engine.begin() as c:
            for t in (entries, items, tokens):
                c.execute(delete(t))
            c.execute(delete(meta).where(meta.c.key == LOG_BYTES))
        return self.catch_up()

    def _index(self, c: Any, batch: list[tuple[int, bytes, dict[str, Any], int]]) -> int:
        rows, item_rows, tok_rows = [], [], []
        for seq, line, e, offset in batch:
            rows.append(entry_row(seq, line, e, offset))
            it = item_row(seq, e)
            if it is not None:
                item_rows.append(it)
            tok_rows.extend(token_rows(seq, e))
        c.execute(insert(entries), rows)
        if tok_rows:
            c.execute(insert(tokens), tok_rows)
        if item_rows:
            shas = list({r["sha256"] for r in item_rows})
            known = {
                row.sha256
                for row in c.execute(select(items.c.sha256).where(items.c.sha256.in_(shas)))
            }
            new: dict[str, dict[str, Any]] = {}
            for r in item_rows:  # first appearance wins
                if r["sha256"] not in known and r["sha256"] not in new:
                    new[r["sha256"]] = r
            if new:
                c.execute(insert(items), list(new.values()))
        return len(rows)

    # --- reading entries back from the log, each checked against its row ----------------
    def _read(self, f: IO[bytes], row: Mapping[Any, Any]) -> dict[str, Any]:
        """The entry a row names, read from the log (open as ``f``) and checked against the
        row; IndexMismatch when they differ."""
        seq = row["seq"]
        try:
            f.seek(int(row["offset"]))
            raw = f.read(int(row["length"]) + 1)
        except (TypeError, ValueError, OSError) as exc:
            raise IndexMismatch(Mismatch("entries", seq, f"its place in the log: {exc}")) from None
        line = raw[:-1]
        if not raw.endswith(b"\n") or custody.line_hash(line) != row["line_hash"]:
            raise IndexMismatch(Mismatch("entries", seq, "the line it names has another hash"))
        try:
            e = custody.parse_line(line).entry
        except (ValueError, KeyError, TypeError, RecursionError):
            raise IndexMismatch(Mismatch("entries", seq, "it names no log entry")) from None
        if e.get("seq") != seq:
            raise IndexMismatch(Mismatch("entries", seq, f"it names entry {e.get('seq')}"))
        wrong = differs(entry_row(seq, line, e, int(row["offset"])), row)
        if wrong:
            raise IndexMismatch(Mismatch("entries", seq, wrong))
        return e

    def _entries(self, query: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The entries of the ``entries`` rows ``query`` selects (in log order, unless it is
        :data:`_HISTORY`, ordered already), read from the log."""
        if query is not _HISTORY:
            query = query.order_by(entries.c.seq)
        with self.engine.connect() as c:
            rows = c.execute(query, params).mappings().all()
        if not rows:
            return []
        with open(self.store.log_path, "rb") as f:
            return [self._read(f, r) for r in rows]

    def _entries_at(self, seqs: Iterable[int], table: str) -> dict[int, dict[str, Any]]:
        """The entries ``seqs`` name, read from the log (a few queries, one open file);
        IndexMismatch when the index has no row for one of them."""
        wanted = sorted(set(seqs))
        out: dict[int, dict[str, Any]] = {}
        if not wanted:
            return out
        with self.engine.connect() as c, open(self.store.log_path, "rb") as f:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                for row in c.execute(select(entries).where(entries.c.seq.in_(chunk))).mappings():
                    out[row["seq"]] = self._read(f, row)
        for seq in wanted:
            if seq not in out:
                raise IndexMismatch(Mismatch(table, seq, "a row names an entry the index lacks"))
        return out

    def _checked_items(self, rows: Sequence[Mapping[Any, Any]]) -> list[dict[str, Any]]:
        """Item rows, each checked against the entry it came from."""
        made = self._entries_at((r["first_seq"] for r in rows), "items")
        for row in rows:
            want = item_row(row["first_seq"], made[row["first_seq"]])
            wrong = "its entry names no item" if want is None else differs(want, row)
            if wrong:
                raise IndexMismatch(Mismatch("items", row["first_seq"], wrong))
        return [dict(r) for r in rows]

    def _checked_tokens(self, rows: Sequence[Mapping[Any, Any]]) -> list[dict[str, Any]]:
        """Token rows, each checked against the timestamp entry it came from."""
        made = {
            seq: {token_key(t) for t in token_rows(seq, e)}
            for seq, e in self._entries_at((r["seq"] for r in rows), "tokens").items()
        }
        for row in rows:
            if token_key(row) not in made[row["seq"]]:
                raise IndexMismatch(Mismatch("tokens", row["seq"], "its entry holds no such token"))
        return [dict(r) for r in rows]

    # --- queries ---------------------------------------------------------------------
    def item(self, sha256: str) -> dict[str, Any] | None:
        """The item ``sha256`` (its first appearance in the log), or None."""
        with self.engine.connect() as c:
            row = c.execute(select(items).where(items.c.sha256 == sha256)).mappings().first()
        return self._checked_items([row])[0] if row else None

    def history(self, sha256: str) -> list[dict[str, Any]]:
        """Every entry about an item, oldest first."""
        return self._entries(_HISTORY, {"subject": sha256})

    def entries_by_event(self, event: str) -> Iterator[dict[str, Any]]:
        """Entries of ``event``, in log order."""
        yield from self._entries(select(entries).where(entries.c.event == event))

    def entries_by_events(self, events: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Entries of any of ``events``, in log order."""
        yield from self._entries(select(entries).where(entries.c.event.in_(events)))

    def last_seq_of(self, events: tuple[str, ...]) -> int:
        """The last entry of any of ``events``, -1 when there is none (what a view built
        from those entries depends on)."""
        with self.engine.connect() as c:
            v = c.execute(select(func.max(entries.c.seq)).where(entries.c.event.in_(events)))
            found = v.scalar()
        return -1 if found is None else int(found)

    def entries_by_events_after(
        self, events: tuple[str, ...], seq: int
    ) -> Iterator[dict[str, Any]]:
        """Entries of any of ``events`` after entry ``seq``, in log order (what a reader that
        keeps its own view of the log has not seen yet)."""
        query = select(entries).where(entries.c.event.in_(events), entries.c.seq > seq)
        yield from self._entries(query)

    def items_where(
        self, *, kind: str | None = None, precinct: str | None = None
    ) -> list[dict[str, Any]]:
        """Original items (not derivatives), optionally of one kind or precinct."""
        q = select(items).where(items.c.derived_from.is_(None))
        if kind:
            q = q.where(items.c.kind == kind)
        if precinct:
            q = q.where(items.c.precinct == str(precinct))
        with self.engine.connect() as c:
            rows = c.execute(q.order_by(items.c.first_seq)).mappings().all()
        return self._checked_items(rows)

    def precincts_with_kind(self, kind: str) -> set[str]:
        """The precincts with at least one original item of ``kind`` (one query)."""
        q = (
            select(items.c.precinct)
            .where(items.c.derived_from.is_(None), items.c.kind == kind)
            .distinct()
        )
        with self.engine.connect() as c:
            return {str(r[0]) for r in c.execute(q) if r[0] is not None}

    def line_hash(self, seq: int) -> str | None:
        """SHA-256 of log line ``seq`` (what the next entry's ``prev`` names), checked
        against the log; None when it is not indexed."""
        with self.engine.connect() as c:
            row = c.execute(select(entries).where(entries.c.seq == seq)).mappings().first()
        if row is None:
            return None
        with open(self.store.log_path, "rb") as f:
            self._read(f, row)
        return str(row["line_hash"])

    def tokens_for(self, subject: str) -> list[dict[str, Any]]:
        """Every token recorded for a hash, oldest first."""
        with self.engine.connect() as c:
            rows = (
                c.execute(select(tokens).where(tokens.c.subject == subject).order_by(tokens.c.seq))
                .mappings()
                .all()
            )
        return self._checked_tokens(rows)

    def first_tokens(self, subjects: list[str]) -> dict[str, dict[str, Any]]:
        """The first token recorded for each of ``subjects`` that has one (one query)."""
        found: dict[str, Mapping[Any, Any]] = {}
        with self.engine.connect() as c:
            for i in range(0, len(subjects), 500):
                chunk = subjects[i : i + 500]
                for r in c.execute(
                    select(tokens).where(tokens.c.subject.in_(chunk)).order_by(tokens.c.seq)
                ).mappings():
                    found.setdefault(r["subject"], r)
        checked = self._checked_tokens(list(found.values()))
        return {t["subject"]: t for t in checked}

    def token_for(self, subject: str) -> dict[str, Any] | None:
        """The first token recorded for a hash (what a receipt carries)."""
        found = self.tokens_for(subject)
        return found[0] if found else None

    def all_tokens(self) -> list[dict[str, Any]]:
        """Every token recorded, in log order."""
        with self.engine.connect() as c:
            rows = c.execute(select(tokens).order_by(tokens.c.seq)).mappings().all()
        return self._checked_tokens(rows)

    def find_by_prefix(self, prefix: str) -> list[str]:
        """Up to five item hashes starting with ``prefix`` (taken literally: ``_`` and ``%``
        match only themselves)."""
        literal = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.engine.connect() as c:
            rows = c.execute(
                select(items.c.sha256)
                .where(items.c.sha256.like(literal + "%", escape="\\"))
                .limit(5)
            ).all()
        return [r.sha256 for r in rows]

    # --- the whole index against the whole log -----------------------------------------
    def mismatches(self, *, limit: int = 20) -> list[Mismatch]:
        """Where the index and the log disagree (at most ``limit``), reading both whole:
        rows changed, added, deleted or out of place in every table. Entries the index has
        not reached yet are not a disagreement (a writer indexes after it commits)."""
        return index_check.compare(self, limit=limit)

    def ensure_matches_log(self) -> None:
        """Catch up, then raise IndexMismatch unless the whole index agrees with the log
        (before anything is built from it for a court)."""
        self.catch_up()
        found = self.mismatches(limit=1)
        if found:
            raise IndexMismatch(found[0])


class IndexHook:
    """A commit hook keeping the store's index level with the log (registered last, so that
    it also indexes what the other hooks appended)."""

    def on_open(self, writer: Writer) -> None:
        """Index what earlier writers left unindexed."""
        writer.store.index.catch_up()

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        """Index this commit's entries. When the disk refuses (full), the index lags: it is
        a copy of the log, caught up by the next writer or reader."""
        try:
            writer.store.index.add(
                [(a.seq, a.line, a.entry) for a in writer.committed], writer.log_bytes
            )
        except (OSError, SQLAlchemyError) as e:
            if cannot_write(e) is None:
                raise
