"""Items: hand files in (from paths or a stream), find an item by a prefix of its hash, show
one with its custody history.

What a front end hands in is checked before any file is touched: the kind must be known and
an observer ID that looks like an IIN must pass its check digit. A batch then goes through
the pipeline under one writer; its summary says, per file, what was stored, skipped or refused
(and where the refused file was quarantined), and which receipt each stored file earned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from base.errors import EXIT_OK, EXIT_REFUSED, UsageError
from evidence.content.privacy import observer_pseudonym
from evidence.core import events
from evidence.storage.store import Store
from pipeline import intake, order
from pipeline.intake import Rejected, collect, validate_kind
from pipeline.registry import check_precinct
from pipeline.run import BatchResult, Stopped, run_submissions
from pipeline.stages import Stage, StageResult, Status, Submission

KINDS: tuple[str, ...] = intake.KINDS
"""The kinds of file an observer can hand in."""


# --- finding and showing items -----------------------------------------------------------
def latest_reading(history: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The last OCR reading in an item's ``history`` (oldest first), or None when it was
    never read."""
    return next((e for e in reversed(history) if e.get("event") == events.OCR), None)


def resolve(store: Store, prefix: str) -> str:
    """The SHA-256 of the one item whose hash starts with ``prefix`` (any case); a usage error
    (exit code 2) when none or several match."""
    index = store.index
    index.catch_up()
    matches = index.find_by_prefix(prefix.strip().lower())
    if len(matches) != 1:
        raise UsageError(
            f"{'no item' if not matches else 'several items'} match {prefix!r}",
            fix="give more characters of the SHA-256",
        )
    return matches[0]


@dataclass(frozen=True)
class ItemView:
    """One item: what the index knows of it and its custody history."""

    sha256: str
    """The item's SHA-256."""
    item: dict[str, Any] | None
    """Its index row (size, media type, precinct, kind…)."""
    history: tuple[dict[str, Any], ...]
    """Every custody entry about it, oldest first, each with its ``seq``."""

    @property
    def first_ingest(self) -> dict[str, Any]:
        """The entry that first took it in (empty for a derivative)."""
        return next((e for e in self.history if e.get("event") == events.INGEST), {})

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata read from the file when it was first taken in (fields and flags)."""
        md = self.first_ingest.get("metadata")
        return md if isinstance(md, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"item": row, "history": [entries]}``."""
        return {"item": self.item, "history": list(self.history)}


def show(store: Store, prefix: str) -> ItemView:
    """The item whose hash starts with ``prefix``, and its custody history."""
    sha = resolve(store, prefix)
    index = store.index
    return ItemView(sha, index.item(sha), tuple(index.history(sha)))


# --- handing files in --------------------------------------------------------------------
@dataclass(frozen=True)
class Declared:
    """What the submitter says of the files handed in (a manifest may override it per file)."""

    observer: str
    """Who handed them in: an observer ID or an IIN (pseudonymised, never kept)."""
    precinct: str
    """The precinct they are evidence for."""
    kind: str = "other"
    """protocol, violation, act, video or other."""
    channel: str = ""
    """How they reached the coalition (telegram, the phone page…)."""
    note: str = ""
    """A note kept with every file."""


@dataclass(frozen=True)
class Outcome:
    """What one stage did to one file of a batch, with the receipt the file earned."""

    result: StageResult
    """The stage's result."""
    receipt: Path | None
    """The receipt written for the file's custody entry (stored files only)."""

    @property
    def stage(self) -> str:
        """The stage's name (``intake``, ``timestamp``, ``ocr``)."""
        return self.result.stage

    @property
    def status(self) -> Status:
        """done, skipped, refused or failed."""
        return self.result.status

    def to_dict(self) -> dict[str, Any]:
        """The stage result's JSON form, with ``receipt`` (a path or null)."""
        d = self.result.to_dict()
        d["receipt"] = str(self.receipt) if self.receipt else None
        return d


NOT_READ_FIX = "if one of them is a protocol, read it as one: dalel ocr --item SHA256"
"""What to do about photos handed in without a kind that were not read as protocols."""


@dataclass(frozen=True)
class ProtocolsRead:
    """What a ``run`` did about protocols: photos read, and photos handed in without a kind
    (``--kind`` not given) that were looked at and not read as protocols."""

    read: int
    """Photos read as protocols now."""
    found: int
    """Of them, photos handed in without a kind, read because their content reads as a
    protocol of the store's form."""
    not_read: tuple[tuple[str, str], ...]
    """Photos handed in without a kind that were not read as protocols: (SHA-256, the named
    reason: ``not_a_protocol``, ``form_mismatch``, ``image_too_small``, ``label_not_found``
    (too few of the form's labels), ``ocr_unavailable``…)."""

    @property
    def fix(self) -> str | None:
        """How to read one of ``not_read`` as a protocol anyway (None when there are none)."""
        return NOT_READ_FIX if self.not_read else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: read, found_by_content, not_read_as_protocols (a count), why_not
        (reason -> count) and fix."""
        why: dict[str, int] = {}
        for _, reason in self.not_read:
            why[reason] = why.get(reason, 0) + 1
        return {
            "read": self.read,
            "found_by_content": self.found,
            "not_read_as_protocols": len(self.not_read),
            "why_not": why,
            "fix": self.fix,
        }


def protocols_read(results: Iterable[StageResult]) -> ProtocolsRead:
    """What the ``ocr`` stage did in a batch, from its results."""
    ocr_results = [r for r in results if r.stage == "ocr"]
    done = [r for r in ocr_results if r.status is Status.DONE]
    return ProtocolsRead(
        read=len(done),
        found=sum(1 for r in done if r.data.get("protocol_by") == "content"),
        not_read=tuple(
            (r.subject, str(r.data["not_a_protocol"]))
            for r in ocr_results
            if r.status is Status.SKIPPED and "not_a_protocol" in r.data
        ),
    )


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did, file by file, and its totals."""

    outcomes: tuple[Outcome, ...]
    """Every stage result, in the order they happened."""
    stored: int
    """Files stored now."""
    skipped: int
    """Files not stored again (already received from the same source)."""
    refused: int
    """Files refused and quarantined."""
    checkpoint: Path | None
    """The last checkpoint the batch signed."""
    stopped: Stopped | None = None
    """Why the batch stopped before its end (the store's disk refused a write), if it did:
    the files before were taken and receipted."""
    protocols: ProtocolsRead | None = None
    """What the batch did about protocols (``run`` only: ``ingest`` reads none)."""

    @property
    def intake(self) -> tuple[Outcome, ...]:
        """One outcome per file handed in: what intake did with it."""
        return tuple(o for o in self.outcomes if o.stage == "intake")

    @property
    def exit_code(self) -> int:
        """4 when the batch stopped (the disk refused a write), 3 when some files were refused
        (the rest went in), else 0."""
        if self.stopped is not None:
            return self.stopped.error.exit_code
        return EXIT_REFUSED if self.refused else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"summary": totals, "results": [outcomes]}``."""
        return {
            "summary": {
                "stored": self.stored,
                "skipped": self.skipped,
                "refused": self.refused,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "stopped": None
                if self.stopped is None
                else {
                    "error": self.stopped.error.message,
                    "fix": self.stopped.error.fix,
                    "not_taken": self.stopped.not_taken,
                    "first_not_taken": self.stopped.first,
                },
                **({} if self.protocols is None else {"protocols": self.protocols.to_dict()}),
            },
            "results": [o.to_dict() for o in self.outcomes],
        }


def summarize(batch: BatchResult, *, reads: bool = False) -> BatchSummary:
    """The summary of a pipeline batch (``reads``: its stages read protocols)."""
    return BatchSummary(
        outcomes=tuple(Outcome(r, batch.receipt_for(r)) for r in batch.results),
        stored=len(batch.of(Status.DONE)),
        skipped=len(batch.of(Status.SKIPPED)),
        refused=len(batch.refused),
        checkpoint=batch.checkpoint,
        stopped=batch.stopped,
        protocols=protocols_read(batch.results) if reads else None,
    )


def check_declared(store: Store, declared: Declared) -> None:
    """Refuse what is wrong for every file before any file is read: an unknown kind, an empty
    observer ID, or one that looks like an IIN but fails its check digit (exit code 2)."""
    validate_kind(declared.kind)
    check_precinct(declared.precinct)
    observer_pseudonym(store.secret, declared.observer)


Progress = Callable[[StageResult], None]
"""Called after each file's intake (a progress bar advances)."""


def _run(
    store: Store,
    submissions: Iterable[Submission | Rejected],
    *,
    dedupe: bool,
    stages: tuple[Stage, ...],
    progress: Progress | None,
    on_wait: Callable[[], None] | None,
) -> BatchSummary:
    batch = run_submissions(
        store,
        submissions,
        dedupe=dedupe,
        stages=stages,
        progress=progress,
        on_wait=on_wait,
        read_ahead=True,
    )
    return summarize(batch, reads=any(s.name == "ocr" for s in stages))


def _defaults(declared: Declared) -> Submission:
    return Submission(
        Path("."),
        "",
        declared.observer,
        str(declared.precinct),
        declared.kind,
        declared.channel,
        declared.note,
    )


def ingest(
    store: Store,
    paths: Sequence[Path],
    declared: Declared,
    *,
    progress: Progress | None = None,
    on_wait: Callable[[], None] | None = None,
) -> BatchSummary:
    """Store, log, timestamp and receipt every file under ``paths`` (folders are walked; a
    manifest.csv overrides ``declared`` per file). A file handed in twice is logged twice."""
    check_declared(store, declared)
    return _run(
        store,
        collect(list(paths), _defaults(declared)),
        dedupe=False,
        stages=order.INGEST_STAGES,
        progress=progress,
        on_wait=on_wait,
    )


def run_inbox(
    store: Store,
    inbox: Path,
    declared: Declared,
    *,
    progress: Progress | None = None,
    on_wait: Callable[[], None] | None = None,
) -> BatchSummary:
    """Every stage over every file of ``inbox``; running it again over the same folder adds
    nothing (a file already received from the same source is skipped). A photo handed in
    without a kind is read as a protocol when its content reads as one; the summary's
    ``protocols`` names those that did not."""
    check_declared(store, declared)
    return _run(
        store,
        collect([inbox], _defaults(declared)),
        dedupe=True,
        stages=order.ITEM_STAGES,
        progress=progress,
        on_wait=on_wait,
    )


def ingest_stream(
    store: Store,
    stream: BinaryIO,
    name: str,
    declared: Declared,
    *,
    on_wait: Callable[[], None] | None = None,
) -> BatchSummary:
    """Hand in one file read from ``stream`` (an upload), declared as file ``name``: hashed
    while it is written, then described, logged, timestamped and receipted exactly as a file
    handed in by path."""
    check_declared(store, declared)
    sub = Submission.of_stream(
        stream,
        name,
        observer=declared.observer,
        precinct=str(declared.precinct),
        kind=declared.kind,
        channel=declared.channel,
        note=declared.note,
    )
    return _run(
        store, [sub], dedupe=False, stages=order.INGEST_STAGES, progress=None, on_wait=on_wait
    )
