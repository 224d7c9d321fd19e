"""Run the stages, in their order, over a batch of files handed in."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Self

from base.errors import CannotWrite, cannot_write
from base.lazy import lazy
from evidence.content import privacy
from evidence.storage.store import Store
from pipeline import order
from pipeline.intake import Rejected, collect, safe_text
from pipeline.readahead import ReadAhead
from pipeline.stages import Context, Stage, StageResult, Status, Submission

if TYPE_CHECKING:
    from evidence.storage.writer import Commit
    from evidence.timestamping import stamping
    from pipeline import hooks
else:  # loaded by a batch while its first files are read (SQLAlchemy, the stampers)
    hooks = lazy("pipeline.hooks")
    stamping = lazy("evidence.timestamping.stamping")

#: Files between commits: receipts appear as a long batch goes, not only at its end.
COMMIT_EVERY = int(os.environ.get("DALEL_COMMIT_EVERY", "500"))


@dataclass(frozen=True)
class Stopped:
    """A batch stopped because the store could not be written: what was left."""

    error: CannotWrite
    """What the disk said, and what to do."""
    not_taken: int
    """Files handed in that were not taken (the one under way, and those after it)."""
    first: str
    """The first of them, as handed in."""


@dataclass
class BatchResult:
    """What a batch did: every stage result, the receipts written, the last checkpoint."""

    results: list[StageResult] = field(default_factory=list)
    receipts: dict[int, Path] = field(default_factory=dict)
    checkpoint: Path | None = None
    stopped: Stopped | None = None
    """Why the batch stopped before its end (the store's disk refused a write), if it did."""

    def of(self, status: Status, stage: str = "intake") -> list[StageResult]:
        return [r for r in self.results if r.stage == stage and r.status is status]

    @property
    def refused(self) -> list[StageResult]:
        return self.of(Status.REFUSED)

    def receipt_for(self, result: StageResult) -> Path | None:
        return next((self.receipts[s] for s in result.entries if s in self.receipts), None)


def run_batch(
    store: Store,
    paths: list[Path],
    defaults: Submission,
    *,
    dedupe: bool,
    stages: tuple[Stage, ...] | None = None,
    progress: Callable[[StageResult], None] | None = None,
    on_wait: Callable[[], None] | None = None,
) -> BatchResult:
    """Intake every file under ``paths``, then each of ``stages`` (default: every item
    stage) over each new item, under one writer lock."""
    return run_submissions(
        store,
        collect(paths, defaults),
        dedupe=dedupe,
        stages=stages,
        progress=progress,
        on_wait=on_wait,
        read_ahead=True,
    )


def run_submissions(
    store: Store,
    submissions: Iterable[Submission | Rejected],
    *,
    dedupe: bool = False,
    stages: tuple[Stage, ...] | None = None,
    progress: Callable[[StageResult], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    read_ahead: bool = False,
) -> BatchResult:
    """Intake each submission (from a path or a stream), then each of ``stages`` over each
    new item, under one writer lock, committing every ``COMMIT_EVERY`` files. With
    ``read_ahead``, the files on paths are stored on another thread ahead of the one being
    logged (:mod:`pipeline.readahead`); ``submissions`` is then walked on that thread."""
    stages = order.ITEM_STAGES if stages is None else stages
    batch = BatchResult()
    prestamped = None
    # (the config read as it is: the stampers load while the first files are read)
    if any(s.name == "timestamp" for s in stages) and store.config.external_tsas():
        submissions = list(submissions)
        prestamped = stamping.prestamp(store, _known_hashes(submissions))
    # The writer holds the lock and keeps its reserve of disk space before any file is
    # copied (a batch that fills the disk can still commit what it took); the files are
    # then read while the commit's hooks load (SQLAlchemy, the stampers) and the writer
    # opens, and described once it has. The lock is let go once the reading has stopped.
    writer = store.writer(on_wait=on_wait).hold()
    try:
        with _reading(submissions, store, read_ahead) as pending:
            hooks.attach(store)  # (the writer takes them as it opens)
            writer.open()
            pending.opened()
            ctx = Context(store, writer, store.index, dedupe=dedupe, prestamped=prestamped)
            _take_all(pending, ctx, stages, batch, progress)
        writer.commit_result = writer.commit()
    finally:
        writer.close()
    if writer.commit_result is not None:
        _absorb(batch, writer.commit_result)
    return batch


def _take_all(
    pending: ReadAhead | _InTurn,
    ctx: Context,
    stages: tuple[Stage, ...],
    batch: BatchResult,
    progress: Callable[[StageResult], None] | None,
) -> None:
    """Intake each submission and run ``stages`` over each new item, committing every
    ``COMMIT_EVERY`` files; the last ones are left to the writer's commit."""
    store, writer = ctx.store, ctx.writer
    since_commit = 0
    for sub, prepared in pending:
        try:
            if isinstance(prepared, BaseException):
                raise prepared  # what reading it ahead raised, at its turn
            result = order.INTAKE.run(sub, ctx, prepared)
        except Exception as exc:
            refused = cannot_write(exc)
            if refused is None:
                raise
            # The disk refuses: what was taken is committed (and receipted) below, the
            # rest is named; nothing already received is lost.
            first = privacy.scrub(store.secret, safe_text(sub.relpath or sub.path.name))
            pending.stop_reading()
            batch.stopped = Stopped(refused, 1 + sum(1 for _ in pending), first)
            writer.release_reserve()  # room to commit and receipt what was taken
            break
        batch.results.append(result)
        if progress:
            progress(result)
        if result.item is not None:
            for stage in stages:
                batch.results.append(stage.run(result.item, ctx))
        since_commit += 1
        if since_commit >= COMMIT_EVERY:
            flush(stages, ctx, batch.results)
            _absorb(batch, writer.commit())
            since_commit = 0
    flush(stages, ctx, batch.results)


class _InTurn:
    """The submissions as they come, nothing read ahead (the shape of a ReadAhead)."""

    def __init__(self, submissions: Iterable[Submission | Rejected]) -> None:
        self._subs = iter(submissions)

    def __iter__(self) -> Iterator[tuple[Submission | Rejected, None]]:
        return ((sub, None) for sub in self._subs)

    def stop_reading(self) -> None:
        pass

    def opened(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _reading(
    submissions: Iterable[Submission | Rejected], store: Store, read_ahead: bool
) -> ReadAhead | _InTurn:
    return ReadAhead(submissions, store) if read_ahead else _InTurn(submissions)


def _known_hashes(submissions: list[Submission | Rejected]) -> list[str]:
    """The SHA-256 of each submission, read before the lock so that the external TSAs are
    asked holding nothing: an upload's is known; a file's is computed (a second read, cheap
    beside a TSA's round trip, done only when an external TSA is configured). A file that
    cannot be read now is left to intake, which says why."""
    out = []
    for sub in submissions:
        if not isinstance(sub, Submission):
            continue
        if sub.sha256 is not None:
            out.append(sub.sha256)
        elif sub.stream is None:
            try:
                with open(sub.path, "rb") as f:
                    out.append(hashlib.file_digest(f, "sha256").hexdigest())
            except OSError:
                continue
    return out


def ingest_stream(
    store: Store,
    stream: BinaryIO,
    name: str,
    *,
    observer: str,
    precinct: str,
    kind: str = "other",
    channel: str = "",
    note: str = "",
    stages: tuple[Stage, ...] = order.INGEST_STAGES,
) -> BatchResult:
    """Hand in one file from a stream (an upload), exactly as ``ingest`` hands in a path:
    hashed while it is written, described, logged, timestamped and receipted."""
    sub = Submission.of_stream(
        stream, name, observer=observer, precinct=precinct, kind=kind, channel=channel, note=note
    )
    return run_submissions(store, [sub], stages=stages)


def flush(stages: tuple[Stage, ...], ctx: Context, results: list[StageResult]) -> None:
    """Let stages that batch their work finish it before a commit."""
    for stage in stages:
        fl = getattr(stage, "flush", None)
        if fl is not None:
            r = fl(ctx)
            if r is not None:
                results.append(r)


def _absorb(batch: BatchResult, commit: Commit) -> None:
    batch.receipts.update(commit.receipts)
    if commit.checkpoint is not None:
        batch.checkpoint = commit.checkpoint


def run_stage_over_store(
    store: Store,
    stage: Stage,
    *,
    kind: str | None = None,
    precinct: str | None = None,
    only: Sequence[str] | None = None,
    progress: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    """Run one item stage over the items already in the store (idempotent): those of
    ``kind`` and ``precinct``, or, with ``only``, the items of those SHA-256s."""
    from pipeline.stages import Item

    results = []
    hooks.attach(store)
    with store.writer() as writer:
        ctx = Context(store, writer, store.index)
        if only is None:
            rows = store.index.items_where(kind=kind, precinct=precinct)
        else:
            rows = [r for r in (store.index.item(sha) for sha in only) if r is not None]
        for row in rows:
            item = Item(row["sha256"], row["precinct"], row["kind"], row["media_type"], row["size"])
            r = stage.run(item, ctx)
            results.append(r)
            if progress:
                progress(r)
        flush((stage,), ctx, results)
    return results
