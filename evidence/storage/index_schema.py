"""The index's tables, and the rows one log entry makes in them.

One definition serves both indexing (``evidence.storage.index``) and checking the index
against the log (``Index._read`` for one row, ``evidence.storage.index_check`` for all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from base.errors import StoreCorrupt
from evidence.core import custody, events

SCHEMA = "2"
"""The index's layout; an index of another layout is dropped and rebuilt from the log."""

metadata = MetaData()

LOG_BYTES = "log_bytes"
"""The ``meta`` key holding how many bytes of the log the index has read."""

meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", String))

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
    Column("offset", BigInteger),  # (a log, a file, past 2 GiB: 64 bits in PostgreSQL)
    Column("length", BigInteger),
)

items = Table(
    "items",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger),
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

TABLES = (entries, items, tokens, meta)


class IndexMismatch(StoreCorrupt):
    """A row of the index disagrees with the custody log: the index was changed outside
    Dalel. Nothing is read from it until it is rebuilt from the log."""

    fix = (
        "run `dalel audit` to see what differs (INDEX_MISMATCH), "
        "then `dalel reindex` to rebuild the index from the custody log"
    )

    def __init__(self, found: Mismatch) -> None:
        where = f"entry {found.seq}" if found.seq is not None else "the index"
        super().__init__(
            f"the index (index.sqlite) disagrees with the custody log at {where}: "
            f"{found.detail}; it was changed outside Dalel, so nothing is read from it"
        )
        self.found = found


@dataclass(frozen=True)
class Mismatch:
    """One place where the index and the log disagree."""

    table: str
    """The index table: ``entries``, ``items`` or ``tokens``."""
    seq: int | None
    """The log entry concerned, when there is one."""
    detail: str
    """What differs, for people."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"table": self.table, "seq": self.seq, "detail": self.detail}


# --- the rows an entry makes: one definition, for indexing and for checking -----------------
def entry_row(seq: int, line: bytes, e: Mapping[Any, Any], offset: int) -> dict[str, Any]:
    """The ``entries`` row of log line ``seq`` (starting at byte ``offset``)."""
    item = e.get("item") if isinstance(e.get("item"), dict) else {}
    actor = e.get("actor")
    return {
        "seq": seq,
        "event": e.get("event"),
        "time": e.get("time"),
        "actor": actor.get("id") if isinstance(actor, dict) else None,
        "subject": item.get("sha256") if item else e.get("subject"),
        "precinct": e.get("precinct"),
        "kind": e.get("kind"),
        "line_hash": custody.line_hash(line),
        "offset": offset,
        "length": len(line),
    }


def item_row(seq: int, e: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The ``items`` row entry ``seq`` makes when it is an item's first appearance."""
    item = e.get("item")
    if not isinstance(item, dict) or e.get("event") not in events.ITEM_EVENTS:
        return None
    return {
        "sha256": item.get("sha256"),
        "size": item.get("size"),
        "media_type": item.get("media_type"),
        "precinct": e.get("precinct"),
        "kind": e.get("kind"),
        "first_seq": seq,
        "derived_from": item.get("derived_from"),
    }


def token_rows(seq: int, e: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """The ``tokens`` rows of entry ``seq`` (a timestamp entry; none for others)."""
    if e.get("event") != events.TIMESTAMP:
        return []
    return [
        {
            "subject": t.get("subject"),
            "target": t.get("target"),
            "token_sha256": t.get("token_sha256"),
            "source": t.get("source"),
            "kind": t.get("kind"),
            "gen_time": t.get("gen_time"),
            "seq": seq,
            "time": e.get("time"),
        }
        for t in e.get("tokens", [])
        if isinstance(t, dict)
    ]


def token_key(row: Mapping[Any, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in tokens.columns)


def differs(want: Mapping[Any, Any], got: Mapping[Any, Any]) -> str | None:
    """The first column where a stored row differs from the row the log makes."""
    for k, v in want.items():
        if got.get(k) != v:
            return f"{k} is {got.get(k)!r} in the index, {v!r} in the log"
    return None
