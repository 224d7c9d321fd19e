"""The commit hooks every writer of a Dalel store runs, registered in one place.

The writer (``evidence.storage.writer``) knows nothing of receipts, timestamps or the index;
this is where the pipeline says what a commit does, in order: receipts for the entries that
earn one, a token over each new checkpoint (when the store has its TSA), then the index (last,
so that it also holds the checkpoint's timestamp entry).
"""

from __future__ import annotations

from pathlib import Path

from evidence.core import events
from evidence.receipting import ReceiptHook
from evidence.storage import tiles_out
from evidence.storage.index import IndexHook
from evidence.storage.store import Store
from evidence.timestamping import stamping


def attach(store: Store) -> Store:
    """Register the standard commit hooks on ``store`` (once; a second call adds nothing)."""
    if not any(isinstance(h, IndexHook) for h in store.hooks):
        store.add_hook(ReceiptHook(events.RECEIPTED))
        if stamping.has_tsa(store):
            store.add_hook(stamping.CheckpointStampHook())
        store.add_hook(IndexHook())
        tiles_dir = tiles_out.configured(store)
        if tiles_dir is not None:  # the log's tiles kept up to date for a static server
            store.add_hook(tiles_out.TilesHook(tiles_dir))
        if store.config.raw.get("ocr", {}).get("queue"):  # (dalel ocr --queue --follow)
            from pipeline.jobs import QueueReadingsHook

            store.add_hook(QueueReadingsHook())
        bucket = tiles_out.bucket_of(store)
        if bucket is not None:  # and in the store's bucket, for a CDN in front of it
            store.add_hook(tiles_out.TilesHook(bucket))
    return store


def open_store(root: Path) -> Store:
    """Open the store at ``root`` with the standard commit hooks."""
    return attach(Store.open(root))
