"""What is kept between calls from a store's log: one view per store, brought up to date from
the entries after the last one it saw (at 10,000 protocols reading the whole log again for
each request takes seconds). Review, figures and the alternative results keep theirs here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

from evidence.storage.index import Index


class View(Protocol):
    seq: int
    """The last entry of the log seen (-1: none yet)."""
    line_hash: str | None
    """That entry's line hash: a log cut back and written again starts a new view."""


V = TypeVar("V", bound=View)


class Kept(dict[str, V]):
    """Views by store (its place and first line: a store made again at the same place, as a
    test or a restore does, starts its own), at most ``most`` of them, the oldest dropped."""

    def __init__(self, make: Callable[[], V], most: int) -> None:
        super().__init__()
        self.make = make
        self.most = most
        self.lock = threading.Lock()
        """Held while a view is read or brought up to date."""

    def of(self, index: Index) -> V:
        """The view of ``index``'s store (call under :attr:`lock`): a new one the first time,
        and when the log is shorter than what it saw or another log at its last entry. The
        caller reads the entries after ``view.seq`` and then calls :meth:`seen`."""
        where = f"{index.store.root.resolve()}:{index.line_hash(0)}"
        view = self.get(where)
        last = index.last_seq()
        if view is None or last < view.seq or index.line_hash(view.seq) != view.line_hash:
            if view is None and len(self) >= self.most:
                self.pop(next(iter(self)))
            view = self[where] = self.make()
        return view

    @staticmethod
    def seen(view: V, index: Index, last: int) -> None:
        """Mark ``view`` as up to date with the log's entry ``last``."""
        view.seq, view.line_hash = last, index.line_hash(last)
