"""The job queue as the commands see it (:mod:`pipeline.jobs` does the work): workers open
the store with its standard commit hooks, which the pipeline's jobs cannot name themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from evidence.storage.store import Store
from pipeline import hooks
from pipeline.jobs import QUEUES, UPGRADE_EVERY, QueueCounts, Queued, check_queues, counts
from pipeline.jobs import work as _work

__all__ = ["QUEUES", "QueueCounts", "Queued", "check_queues", "counts", "work"]


def work(
    store: Store,
    queues: Iterable[str] = QUEUES,
    *,
    concurrency: int = 1,
    stalled_after: float = 30.0,
    until_done: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    upgrade_every: float = UPGRADE_EVERY,
) -> list[QueueCounts]:
    """Run jobs of ``queues`` for ``store`` (see :func:`pipeline.jobs.work`)."""
    return _work(
        store,
        queues,
        concurrency=concurrency,
        stalled_after=stalled_after,
        until_done=until_done,
        say=say,
        upgrade_every=upgrade_every,
        open_store=hooks.open_store,
    )
