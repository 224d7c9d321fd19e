"""Reading the next files while this one is logged: intake's reading on threads of its own.

Storing a file is mostly waiting on the kernel (copying its bytes into the store, hashing the
copy: Python's lock is let go meanwhile) and on libmagic and ffprobe, and logging it is mostly
Python (its signed entry, the index). A :class:`ReadAhead` stores and describes the files
handed in, several at once, up to ``depth`` files ahead of the runner, which logs them in the
order they were handed in. It starts as soon as the writer holds the lock and its reserve of
disk space, before the writer opens: the files are copied and hashed while the commit's hooks
load (SQLAlchemy, the stampers) and the log's tree is loaded. A file is described (its
precinct's place read from the registry in the index), and what the index says of its object
looked up, once the writer is open and has brought the index up to date with the log (the
runner says so: :meth:`ReadAhead.opened`); while the batch holds the store only the batch adds
to the index, and the runner has what it added. Nothing about what is logged changes: the
same checks refuse the same files before a byte of them is read, each file is stored as it
was read, and an object is only ever named by an entry after the commit has made it durable.
A failure while reading a file is raised at that file's turn, as if it had been read then; a
failure of the walk itself (a manifest that cannot be read) likewise. Objects read ahead are
not synced one by one: the commit syncs the file system before it writes the entries that
name them (:meth:`evidence.storage.writer.Writer.flush`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Self

from evidence.storage.store import Store
from pipeline import order
from pipeline.intake import Places, Prepared, Rejected
from pipeline.stages import Submission

#: Files read ahead of the one being logged, at most: enough for the reading to go on while
#: the runner loads what it first needs (the stampers, the receipts); each holds only its
#: first bytes (256 KiB) and its metadata in memory.
DEPTH = 64
#: Files read at once, each by a thread of its own (copied, hashed, described).
READERS = 3

_END = object()


class ReadAhead:
    """The submissions, each with what was read of it ahead (None: nothing; an exception:
    what reading it raised), in their order. Use as a context manager: leaving it stops the
    reading threads.

    One thread walks the submissions and hands each file to :data:`READERS` threads, which
    copy it into the store (the kernel copies), hash the copy, put it in place and describe
    it (:meth:`IntakeStage.prepare`): several files are copied and hashed at once, and
    libmagic and ffprobe run beside the runner. The runner takes each file's outcome in the
    order handed in."""

    def __init__(
        self, submissions: Iterable[Submission | Rejected], store: Store, *, depth: int = DEPTH
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._store = store
        self._queue: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=depth)
        self._stop_reading = threading.Event()
        self._opened = threading.Event()
        self._places = Places(store)
        self._abandoned = threading.Event()
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="dalel-read")
        self._walker = threading.Thread(
            target=self._walk, args=(iter(submissions),), name="dalel-walk", daemon=True
        )
        self._walker.start()

    def _walk(self, subs: Iterator[Submission | Rejected]) -> None:
        try:
            for sub in subs:
                outcome: object = None
                if isinstance(sub, Submission) and self._reads(sub):
                    outcome = self._readers.submit(self._read, sub)
                if not self._put((sub, outcome)):
                    return
            self._put((_END, None))
        except Exception as e:  # the walk itself failed
            self._put((_END, e))

    def _read(self, sub: Submission) -> Prepared | None:
        if self._stop_reading.is_set():
            return None  # the batch stopped: only counted
        prepared = order.INTAKE.prepare(sub, self._store, durable=False)
        # described once the writer is open: the precinct's place comes from the registry
        # in the index, which the writer's opening brings up to date with the log
        self._opened.wait()
        if self._stop_reading.is_set():
            return prepared  # (described at its turn, if it has one)
        prepared = order.INTAKE.describe(prepared, sub, self._store, self._places)
        if prepared.stored is None:
            return prepared
        # what the index says of it: only this batch adds to it while the batch holds the
        # store, and the runner has what this batch added
        return replace(prepared, history=self._store.index.history(prepared.stored.sha256))

    def opened(self) -> None:
        """The writer is open (the index caught up with the log): files are described."""
        self._opened.set()

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
                sub, outcome = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._walker.is_alive() or not self._queue.empty():
                    continue
                raise RuntimeError("the read-ahead thread stopped without a word") from None
            if sub is _END:
                if isinstance(outcome, BaseException):
                    raise outcome
                return
            if isinstance(outcome, Future):
                try:
                    outcome = outcome.result()
                except Exception as e:
                    outcome = e
            yield sub, outcome  # type: ignore[misc]

    def stop_reading(self) -> None:
        """Read no more files ahead (the batch stops; what is left is only counted)."""
        self._stop_reading.set()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the threads, after the file each is reading (those not begun are not)."""
        self._stop_reading.set()
        self._abandoned.set()
        self._opened.set()  # (a reader waiting for the writer goes on, and describes none)
        self._walker.join()
        self._readers.shutdown(wait=True)
