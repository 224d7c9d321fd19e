"""The one shape every stage has: ``run(item, ctx) -> StageResult``, idempotent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:  # (types only: a batch loads the index and the stampers while it reads)
    from evidence.storage.index import Index
    from evidence.storage.store import Store
    from evidence.storage.writer import Writer
    from evidence.timestamping.stamping import Prestamped


class Status(StrEnum):
    DONE = "done"  # the stage did its work now
    SKIPPED = "skipped"  # nothing to do (already done, or not for this item)
    REFUSED = "refused"  # input refused and quarantined with its reason
    FAILED = "failed"  # the stage could not do its work; recorded, the batch goes on


@dataclass(frozen=True)
class Submission:
    """A file handed in, before intake: where it is and what the submitter said of it."""

    path: Path
    """Where the file is; for a stream, only its declared name (``path.name``) counts."""
    relpath: str
    """Its path within what was handed in (shown and logged, pseudonymised)."""
    observer: str
    """Who handed it in (an IIN is turned into a pseudonym, never kept)."""
    precinct: str
    """The precinct it is evidence for."""
    kind: str = "other"
    """protocol, violation, act, video or other."""
    channel: str = ""
    """How it reached the coalition (telegram, the phone page…)."""
    note: str = ""
    """The submitter's note."""
    stream: BinaryIO | None = field(default=None, compare=False)
    """The bytes, when they come as a stream (an upload) rather than from ``path``."""
    sha256: str | None = field(default=None, compare=False)
    """Their SHA-256 when already known (an upload's, computed as it arrived): lets the
    runner ask the external TSAs before it takes the write lock."""
    pseudonym: str | None = field(default=None, compare=False)
    """The observer's pseudonym when already made from their IIN (an observer who gave it on
    the phone, where it was checked and dropped): used as the actor instead of ``observer``."""
    held: Path | None = field(default=None, compare=False)
    """A file the store's own process already holds on the store's file system whose SHA-256
    it computed as the bytes arrived (``sha256``): a received upload. Intake links it into the
    object store instead of copying and hashing it again."""

    @classmethod
    def of_stream(
        cls,
        stream: BinaryIO,
        name: str,
        *,
        observer: str,
        precinct: str,
        kind: str = "other",
        channel: str = "",
        note: str = "",
        sha256: str | None = None,
        pseudonym: str | None = None,
        held: Path | None = None,
    ) -> Submission:
        """A submission whose bytes are read from ``stream``, declared as file ``name``
        (``held``: the file behind the stream, see :attr:`held`)."""
        return cls(
            Path(Path(name).name or "upload"),
            name,
            observer,
            str(precinct),
            kind,
            channel,
            note,
            stream,
            sha256,
            pseudonym,
            held,
        )


@dataclass(frozen=True)
class Item:
    """An item in the store, as later stages see it."""

    sha256: str
    precinct: str
    kind: str
    media_type: str
    size: int


@dataclass(frozen=True)
class StageResult:
    """What a stage did to one item."""

    stage: str
    subject: str
    status: Status
    detail: str = ""
    item: Item | None = None
    entries: tuple[int, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "subject": self.subject,
            "status": self.status.value,
            "detail": self.detail,
            "sha256": self.item.sha256 if self.item else None,
            "entries": list(self.entries),
            **self.data,
        }


@dataclass
class Context:
    """What stages share in one run: the store, its open writer, options, progress."""

    store: Store
    writer: Writer
    index: Index
    dedupe: bool = False  # `run`: a file already received from the same source adds nothing
    progress: Callable[[str], None] = lambda message: None
    seen: set[tuple[Any, ...]] = field(default_factory=set)
    #: items waiting for a timestamp token (flushed before each commit)
    stamp_queue: list[str] = field(default_factory=list)
    #: tokens the external TSAs gave before the write lock was taken (None: none were asked)
    prestamped: Prestamped | None = None
    #: ingest entries appended in this run, by item hash
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: items the index knew nothing of when they came in this run and not stamped since:
    #: none has a token as an item (an item is stamped only once it is logged)
    unknown: set[str] = field(default_factory=set)


class Stage(Protocol):
    """A pipeline stage. A stage that batches work may also have ``flush(ctx)``, which the
    runner calls before each commit."""

    name: str

    def run(self, item: Any, ctx: Context) -> StageResult: ...
