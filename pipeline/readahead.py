"""Reading the next files while this one is logged: intake's reading on a thread of its own.

Storing a file is mostly waiting on the kernel (copying its bytes into the store, hashing the
copy: Python's lock is let go meanwhile), and describing and logging it is mostly Python
(libmagic and EXIF, ffprobe, its signed entry, the index). A :class:`ReadAhead` walks the
files handed in on one thread and stores each (:meth:`IntakeStage.prepare`) up to ``depth``
files ahead of the runner, which describes and logs them in the order they were handed in,
so the two overlap on two cores. It starts once the writer is open (the lock held, its
reserve of disk space kept). Nothing about what is logged changes: the same checks refuse the same files before a
byte of them is read, each file is stored as it was read, and an object is only ever named
by an entry after the commit has made it durable. A failure while reading a file is raised
at that file's turn, as if it had been read then; a failure of the walk itself (a manifest
that cannot be read) likewise. Objects read ahead are not synced one by one: the commit
syncs the file system before it writes the entries that name them
(:meth:`evidence.storage.writer.Writer.flush`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Self

from evidence.storage.store import Store
from pipeline import order
from pipeline.intake import Prepared, Rejected
from pipeline.stages import Submission

#: Files read ahead of the one being logged, at most: enough for the reading to go on while
#: the runner loads what it first needs (the stampers, the receipts); each holds only its
#: first bytes (256 KiB) in memory.
DEPTH = 64

_END = object()


class ReadAhead:
    """The submissions, each with what was read of it ahead (None: nothing; an exception:
    what reading it raised), in their order. Use as a context manager: leaving it stops the
    reading thread."""

    def __init__(
        self, submissions: Iterable[Submission | Rejected], store: Store, *, depth: int = DEPTH
    ) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=depth)
        self._stop_reading = threading.Event()
        self._abandoned = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(iter(submissions),), name="dalel-read-ahead", daemon=True
        )
        self._thread.start()

    def _work(self, subs: Iterator[Submission | Rejected]) -> None:
        try:
            for sub in subs:
                prepared: Prepared | BaseException | None = None
                if self._reads(sub):
                    assert isinstance(sub, Submission)
                    try:
                        prepared = order.INTAKE.prepare(sub, self._store, durable=False)
                    except Exception as e:
                        prepared = e
                if not self._put((sub, prepared)):
                    return
            self._put((_END, None))
        except Exception as e:  # the walk itself failed
            self._put((_END, e))

    def _reads(self, sub: Submission | Rejected) -> bool:
        """Whether to read ``sub`` ahead: a file on a path that intake will read, while the
        batch goes on (streams and uploads are read at their turn, as before)."""
        return (
            not self._stop_reading.is_set()
            and isinstance(sub, Submission)
            and sub.stream is None
            and sub.held is None
            and order.INTAKE.will_read(sub, self._store)
        )

    def _put(self, message: tuple[object, object]) -> bool:
        while not self._abandoned.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[tuple[Submission | Rejected, Prepared | BaseException | None]]:
        while True:
            try:
                sub, prepared = self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._thread.is_alive():
                    continue
                raise RuntimeError("the read-ahead thread stopped without a word") from None
            if sub is _END:
                if isinstance(prepared, BaseException):
                    raise prepared
                return
            yield sub, prepared  # type: ignore[misc]

    def stop_reading(self) -> None:
        """Read no more files ahead (the batch stops; what is left is only counted)."""
        self._stop_reading.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the thread, after the file it is reading, if any."""
        self._stop_reading.set()
        self._abandoned.set()
        self._thread.join()
