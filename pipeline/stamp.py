"""The ``timestamp`` stage: an RFC 3161 token for every item, obtained in batches.

``run`` queues the item; ``flush`` (called by the runner before each commit) asks the
store's TSAs for all queued hashes at once and records the tokens in one custody entry.
An item that already has a token is not stamped again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from base.lazy import lazy
from pipeline.stages import Context, Item, StageResult, Status

if TYPE_CHECKING:
    from evidence.storage.store import Store
    from evidence.timestamping import stamping
else:
    stamping = lazy("evidence.timestamping.stamping")


class TimestampStage:
    name = "timestamp"

    def run(self, item: Item, ctx: Context) -> StageResult:
        if item.sha256 in ctx.stamp_queue or (
            item.sha256 not in ctx.unknown and ctx.index.token_for(item.sha256) is not None
        ):
            return StageResult(self.name, item.sha256, Status.SKIPPED, "already has a token", item)
        ctx.stamp_queue.append(item.sha256)
        return StageResult(self.name, item.sha256, Status.DONE, "queued for a token", item)

    def flush(self, ctx: Context) -> StageResult | None:
        """Stamp every queued item; one custody entry for the batch."""
        if not ctx.stamp_queue:
            return None
        subjects = [(sha, "item") for sha in ctx.stamp_queue]
        entry = stamping.stamp(ctx.writer, subjects, prestamped=ctx.prestamped)
        ctx.unknown.difference_update(ctx.stamp_queue)  # (they have one now)
        ctx.stamp_queue.clear()
        if entry is None:
            return None
        kinds = sorted({t["kind"] for t in entry["tokens"]})
        return StageResult(
            self.name,
            f"{len(subjects)} item(s)",
            Status.DONE,
            f"{len(subjects)} token(s) from {'/'.join(kinds)} TSA",
            data={"tokens": len(subjects), "kinds": kinds},
        )


def upgrade_external(store: Store) -> int:
    """Add an external token to every item and checkpoint that has only a local one (the
    store was offline); how many got one. A usage error when no external TSA is configured;
    :class:`~evidence.timestamping.timestamps.TimestampUnavailableError` (exit 4) when none
    answers. The TSAs are asked holding no lock; what they gave is recorded under it."""
    from base.errors import UsageError
    from evidence.timestamping.timestamps import TimestampUnavailableError

    if not stamping.external_config(store):
        raise UsageError(
            "no external TSA is configured",
            fix="add one: dalel timestamp add-tsa NAME URL --roots ROOTS.pem",
        )
    index = store.index
    index.catch_up()
    todo = stamping.needs_external(index)
    if not todo:
        return 0
    pre = stamping.prestamp(store, [s for s, _ in todo])
    if pre is not None and not pre.results:
        raise TimestampUnavailableError(next(iter(pre.refused.values()), ()))
    with store.writer() as w:
        still = {s for s, _ in stamping.needs_external(w.index)}
        todo = [(s, t) for s, t in todo if s in still]
        entry = stamping.stamp(w, todo, external_only=True, prestamped=pre) if todo else None
    return len(entry["tokens"]) if entry else 0
