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

from evidence.core import custody

if TYPE_CHECKING:
    from evidence.storage.store import Store

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
    return create_engine(f"sqlite:///{store.index_path}", future=True)


class Index:
    """The index of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = _engine(store)
        metadata.create_all(self.engine)

    def last_seq(self) -> int:
        """Highest indexed sequence number, -1 when empty."""
        with self.engine.connect() as c:
            v = c.execute(select(func.max(entries.c.seq))).scalar()
        return -1 if v is None else int(v)

    def catch_up(self) -> int:
        """Index every log entry not yet indexed; returns how many were added."""
        start = self.last_seq() + 1
        added = 0
        batch: list[tuple[int, bytes, dict[str, Any]]] = []
        with self.engine.begin() as c:
            for seq, line in enumerate(self.store.log_lines()):
                if seq < start:
                    continue
                batch.append((seq, line, custody.parse_line(line).entry))
                if len(batch) >= 2000:
                    added += self._index(c, batch)
                    batch = []
            if batch:
                added += self._index(c, batch)
        return added

    def add(self, lines: list[tuple[int, bytes, dict[str, Any]]]) -> int:
        """Index lines a writer has just committed, with their parsed entries (skipping any
        already indexed)."""
        start = self.last_seq() + 1
        todo = [t for t in lines if t[0] >= start]
        if not todo:
            return 0
        with self.engine.begin() as c:
            return self._index(c, todo)

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
            if item and e.get("event") in ("ingest", "derive"):
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
            {"subject": t["subject"], "target": t.get("target"),
             "token_sha256": t["token_sha256"], "source": t.get("source"),
             "kind": t.get("kind"), "gen_time": t.get("gen_time"), "seq": seq, "time": e["time"]}
            for seq, _, e in batch if e.get("event") == "timestamp"
            for t in e.get("tokens", [])
        ]
        if token_rows:
            c.execute(insert(tokens), token_rows)
        if item_rows:
            shas = list({r["sha256"] for r in item_rows})
            known = {row.sha256 for row in c.execute(
                select(items.c.sha256).where(items.c.sha256.in_(shas)))}
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
                select(entries.c.entry).where(entries.c.event.in_(events))
                .order_by(entries.c.seq)
            ).all()
        for r in rows:
            yield json.loads(r.entry)

    def items_where(self, *, kind: str | None = None,
                    precinct: str | None = None) -> list[dict[str, Any]]:
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
            rows = c.execute(select(tokens).where(tokens.c.subject == subject)
                             .order_by(tokens.c.seq)).mappings().all()
        return [dict(r) for r in rows]

    def first_tokens(self, subjects: list[str]) -> dict[str, dict[str, Any]]:
        """The first token recorded for each of ``subjects`` that has one (one query)."""
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as c:
            for i in range(0, len(subjects), 500):
                chunk = subjects[i:i + 500]
                for r in c.execute(select(tokens).where(tokens.c.subject.in_(chunk))
                                   .order_by(tokens.c.seq)).mappings():
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
