"""The SQLite index over the custody log: fast look-ups, rebuildable at any time.

The log is the source of truth; this index is derived from it (``catch_up`` replays what
it has not seen; ``rebuild`` starts over). It is reached through SQLAlchemy Core so that
a coalition can point it at PostgreSQL without touching the stages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from evidence.core import custody, events
from evidence.storage import log as logfile

if TYPE_CHECKING:
    from evidence.storage.store import Store
    from evidence.storage.writer import Commit, Writer

metadata = MetaData()

meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text))

entries = Table(
    "entries",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("event", String, index=True),
    Column("time", String),
    Column("actor", String, index=True),
    Column("subject", String(64), index=True),
    Column("precinct", String, index=True),
    Column("kind", String),
    Column("line_hash", String(64)),
    Column("entry", Text),
)

items = Table(
    "items",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer),
    Column("media_type", String),
    Column("precinct", String, index=True),
    Column("kind", String, index=True),
    Column("first_seq", Integer),
    Column("derived_from", String(64), index=True),
)


tokens = Table(
    "tokens",
    metadata,
    Column("subject", String(64), index=True),
    Column("target", String),
    Column("token_sha256", String(64)),
    Column("source", String),
    Column("kind", String),
    Column("gen_time", String),
    Column("seq", Integer, index=True),
    Column("time", String),
)


def _engine(store: Store) -> Engine:
    return create_engine(store.index_url, future=True)


LOG_BYTES = "log_bytes"
"""Meta key: bytes of the log the index covers, so that catching up reads only what is new."""


class Index:
    """The index of one store. Build it once per opened store (``Store.index``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = _engine(store)
        metadata.create_all(self.engine)

    def last_seq(self) -> int:
        """Highest indexed sequence number, -1 when empty."""
        with self.engine.connect() as c:
            v = c.execute(select(func.max(entries.c.seq))).scalar()
        return -1 if v is None else int(v)

    def _new_lines(self, start: int) -> Iterator[tuple[int, bytes, int]]:
        """Log lines from ``start`` on, each with where it ends in the log: from the byte
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
                    pos += len(line) + 1
                    yield seq, line, pos
                return
        for seq, line in enumerate(logfile.read_log_lines(path)):
            pos += len(line) + 1
            if seq >= start:
                yield seq, line, pos

    def catch_up(self) -> int:
        """Index every log entry not yet indexed; returns how many were added."""
        start = self.last_seq() + 1
        added = 0
        covered: int | None = None
        batch: list[tuple[int, bytes, dict[str, Any]]] = []
        with self.engine.begin() as c:
            for seq, line, end in self._new_lines(start):
                batch.append((seq, line, custody.parse_line(line).entry))
                covered = end
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

    def add(
        self, lines: list[tuple[int, bytes, dict[str, Any]]], log_bytes: int | None = None
    ) -> int:
        """Index lines a writer has just committed, with their parsed entries (skipping any
        already indexed); ``log_bytes``: where the last of them ends in the log."""
        start = self.last_seq() + 1
        todo = [t for t in lines if t[0] >= start]
        if not todo:
            return 0
        with self.engine.begin() as c:
            n = self._index(c, todo)
            if log_bytes is not None:
                self._set_log_bytes(c, log_bytes)
            return n

    def rebuild(self) -> int:
        """Drop everything and index the whole log again."""
        with self.engine.begin() as c:
            for t in (entries, items, meta, tokens):
                c.execute(delete(t))
        return self.catch_up()

    def _index(self, c, batch: list[tuple[int, bytes, dict[str, Any]]]) -> int:
        rows, item_rows = [], []
        for seq, line, e in batch:
            item = e.get("item") if isinstance(e.get("item"), dict) else {}
            subject = item.get("sha256") if item else e.get("subject")
            rows.append(
                {
                    "seq": seq,
                    "event": e.get("event"),
                    "time": e.get("time"),
                    "actor": (e.get("actor") or {}).get("id"),
                    "subject": subject,
                    "precinct": e.get("precinct"),
                    "kind": e.get("kind"),
                    "line_hash": custody.line_hash(line),
                    "entry": custody.entry_text(line),
                }
            )
            if item and e.get("event") in events.ITEM_EVENTS:
                item_rows.append(
                    {
                        "sha256": item["sha256"],
                        "size": item.get("size"),
                        "media_type": item.get("media_type"),
                        "precinct": e.get("precinct"),
                        "kind": e.get("kind"),
                        "first_seq": seq,
                        "derived_from": item.get("derived_from"),
                    }
                )
        c.execute(insert(entries), rows)
        token_rows = [
            {
                "subject": t["subject"],
                "target": t.get("target"),
                "token_sha256": t["token_sha256"],
                "source": t.get("source"),
                "kind": t.get("kind"),
                "gen_time": t.get("gen_time"),
                "seq": seq,
                "time": e["time"],
            }
            for seq, _, e in batch
            if e.get("event") == events.TIMESTAMP
            for t in e.get("tokens", [])
        ]
        if token_rows:
            c.execute(insert(tokens), token_rows)
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

    # --- queries ---------------------------------------------------------------------
    def item(self, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(items).where(items.c.sha256 == sha256)).mappings().first()
        return dict(row) if row else None

    def history(self, sha256: str) -> list[dict[str, Any]]:
        """Every entry about an item, oldest first."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(entries.c.seq, entries.c.entry)
                .where(entries.c.subject == sha256)
                .order_by(entries.c.seq)
            ).all()
        return [json.loads(r.entry) for r in rows]

    def entries_by_event(self, event: str) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(entries.c.entry).where(entries.c.event == event).order_by(entries.c.seq)
            ).all()
        for r in rows:
            yield json.loads(r.entry)

    def entries_by_events(self, events: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Entries of any of ``events``, in log order."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(entries.c.entry).where(entries.c.event.in_(events)).order_by(entries.c.seq)
            ).all()
        for r in rows:
            yield json.loads(r.entry)

    def items_where(
        self, *, kind: str | None = None, precinct: str | None = None
    ) -> list[dict[str, Any]]:
        q = select(items).where(items.c.derived_from.is_(None))
        if kind:
            q = q.where(items.c.kind == kind)
        if precinct:
            q = q.where(items.c.precinct == str(precinct))
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q.order_by(items.c.first_seq)).mappings()]

    def line_hash(self, seq: int) -> str | None:
        """SHA-256 of log line ``seq`` (what the next entry's ``prev`` names)."""
        with self.engine.connect() as c:
            v = c.execute(select(entries.c.line_hash).where(entries.c.seq == seq)).scalar()
        return v

    def tokens_for(self, subject: str) -> list[dict[str, Any]]:
        """Every token recorded for a hash, oldest first."""
        with self.engine.connect() as c:
            rows = (
                c.execute(select(tokens).where(tokens.c.subject == subject).order_by(tokens.c.seq))
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def first_tokens(self, subjects: list[str]) -> dict[str, dict[str, Any]]:
        """The first token recorded for each of ``subjects`` that has one (one query)."""
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as c:
            for i in range(0, len(subjects), 500):
                chunk = subjects[i : i + 500]
                for r in c.execute(
                    select(tokens).where(tokens.c.subject.in_(chunk)).order_by(tokens.c.seq)
                ).mappings():
                    out.setdefault(r["subject"], dict(r))
        return out

    def token_for(self, subject: str) -> dict[str, Any] | None:
        """The first token recorded for a hash (what a receipt carries)."""
        found = self.tokens_for(subject)
        return found[0] if found else None

    def all_tokens(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(tokens).order_by(tokens.c.seq)).mappings()]

    def find_by_prefix(self, prefix: str) -> list[str]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(items.c.sha256).where(items.c.sha256.like(prefix + "%")).limit(5)
            ).all()
        return [r.sha256 for r in rows]


class IndexHook:
    """A commit hook keeping the store's index level with the log (registered last, so that
    it also indexes what the other hooks appended)."""

    def on_open(self, writer: Writer) -> None:
        """Index what earlier writers left unindexed."""
        writer.store.index.catch_up()

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        """Index this commit's entries."""
        writer.store.index.add(
            [(a.seq, a.line, a.entry) for a in writer.committed], writer.log_bytes
        )
