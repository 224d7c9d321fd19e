"""The whole index compared with the whole custody log.

Reading an entry through the index checks that one row (``Index._read``); what a query could
leave out (a row deleted, an event or a subject renamed so that a query no longer finds it, an
item marked as a derivative) shows only when every row is compared with the rows the log
makes. Both are read in log order, side by side: memory holds the items and tokens the log
makes, not the log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from evidence.core import custody
from evidence.storage import log as logfile
from evidence.storage.index_schema import (
    LOG_BYTES,
    Mismatch,
    differs,
    entries,
    entry_row,
    item_row,
    items,
    meta,
    token_key,
    token_rows,
    tokens,
)

if TYPE_CHECKING:
    from evidence.storage.index import Index


class _Found:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Mismatch] = []

    def add(self, table: str, seq: int | None, detail: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(Mismatch(table, seq, detail))

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit


def _log_rows(index: Index) -> Iterator[tuple[int, bytes, int]]:
    pos = 0
    for seq, line in enumerate(logfile.read_log_lines(index.store.log_path)):
        yield seq, line, pos
        pos += len(line) + 1


def unreadable(exc: SQLAlchemyError) -> str:
    """What to say of an index the database library cannot read (its own words, short)."""
    said = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return f"the index cannot be read: {type(exc).__name__} ({said})"


def compare(index: Index, *, limit: int = 20) -> list[Mismatch]:
    """Every disagreement between ``index`` and its store's log (at most ``limit``)."""
    found = _Found(limit)
    try:
        _compare(index, found)
    except SQLAlchemyError as exc:
        found.add("entries", None, unreadable(exc))
    return found.items


def _compare(index: Index, found: _Found) -> None:
    want_items: dict[str, dict[str, Any]] = {}
    want_tokens: list[tuple[Any, ...]] = []
    with index.engine.connect() as c, c.begin():
        # pysqlite runs each SELECT on its own snapshot: the items and tokens read later may
        # hold rows of entries indexed since; they are compared only up to ``last``.
        last = -1
        reached = c.execute(select(meta.c.value).where(meta.c.key == LOG_BYTES)).scalar()
        indexed_to = int(reached) if reached is not None and str(reached).isdigit() else 0
        stored = iter(c.execute(select(entries).order_by(entries.c.seq)).mappings())
        row: Mapping[Any, Any] | None = next(stored, None)
        for seq, line, offset in _log_rows(index):
            if row is None:
                if offset < indexed_to:  # the index says it got this far: a row was deleted
                    found.add("entries", seq, "the index has no row for this entry")
                    if found.full:
                        return
                    continue
                break  # the rest of the log is not indexed yet
            if row["seq"] > seq:
                found.add("entries", seq, "the index has no row for this entry")
                if found.full:
                    return
                continue
            try:
                e = custody.parse_line(line).entry
            except (ValueError, KeyError, TypeError, RecursionError):
                found.add("entries", seq, "the log line cannot be read (see the audit)")
                row = next(stored, None)
                continue
            wrong = differs(entry_row(seq, line, e, offset), row)
            if wrong:
                found.add("entries", seq, wrong)
                if found.full:
                    return
            it = item_row(seq, e)
            if it is not None and it["sha256"] not in want_items:
                want_items[it["sha256"]] = it
            want_tokens.extend(token_key(t) for t in token_rows(seq, e))
            last = seq
            row = next(stored, None)
        if row is not None:
            found.add("entries", row["seq"], "the index has rows for entries the log lacks")
        _compare_items(c, want_items, found, last)
        _compare_tokens(c, want_tokens, found, last)
        _orphans_after(c, found, last)


def _compare_items(c: Any, want: dict[str, dict[str, Any]], found: _Found, last: int) -> None:
    seen: set[str] = set()
    query = select(items).where(items.c.first_seq <= last).order_by(items.c.first_seq)
    for row in c.execute(query).mappings():
        sha = row["sha256"]
        seen.add(sha)
        w = want.get(sha)
        if w is None:
            found.add("items", row["first_seq"], f"item {sha[:16]}… is not in the log")
            continue
        wrong = differs(w, row)
        if wrong:
            found.add("items", w["first_seq"], f"item {sha[:16]}…: {wrong}")
    for sha, w in want.items():
        if sha not in seen:
            found.add("items", w["first_seq"], f"item {sha[:16]}… is missing from the index")


def _compare_tokens(c: Any, want: list[tuple[Any, ...]], found: _Found, last: int) -> None:
    query = select(tokens).where(tokens.c.seq <= last)
    stored = sorted((token_key(r) for r in c.execute(query).mappings()), key=repr)
    expected = sorted(want, key=repr)
    if stored == expected:
        return
    stored_set, expected_set = set(stored), set(expected)
    missing = [t for t in expected if t not in stored_set]
    extra = [t for t in stored if t not in expected_set]
    seq_col = [col.name for col in tokens.columns].index("seq")
    for t in missing[:3]:
        found.add("tokens", t[seq_col], "a token the log records is missing from the index")
    for t in extra[:3]:
        found.add("tokens", t[seq_col], "the index lists a token the log does not record")
    if not missing and not extra:
        found.add("tokens", None, "tokens are listed more or fewer times than the log records")


def _orphans_after(c: Any, found: _Found, last: int) -> None:
    """Item and token rows past ``last`` whose entry has no row: not made by indexing."""
    known = select(entries.c.seq)
    for table, col in ((items, items.c.first_seq), (tokens, tokens.c.seq)):
        query = select(col).where(col > last, col.not_in(known)).limit(3)
        for (seq,) in c.execute(query):
            found.add(table.name, seq, "the index has a row for an entry it does not list")
