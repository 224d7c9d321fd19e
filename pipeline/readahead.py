"""Reading the next files while this one is logged: intake's reading on threads of its own.

Storing a file is mostly waiting on the kernel (copying its bytes into the store, hashing the
copy: Python's lock is let go meanwhile) and on libmagic and ffprobe, and logging it is mostly
Python (its signed entry, the index). A :class:`ReadAhead` stores and describes the files
handed in, several at once, up to ``depth`` files ahead of the runner, which logs them in the
order they were handed in. It starts once the store's lock is held and its reserve of disk
space kept (:meth:`evidence.storage.store.Store.claim`), before the writer is open: files are
copied and hashed while the runner loads what it needs (the index, the stampers, the
receipts, a fifth of a second). Where the disk had no room for the reserve, it starts once
the writer is open, as the writer's own writes must then come first. A file is described
(its media type and metadata: the precinct's place comes from the index) once the runner
says it may (:meth:`ReadAhead.describe_from_now`); the files stored before that wait for it,
each holding no thread, and each precinct's place is looked up once for the batch.

Nothing about what is logged changes: the same checks refuse the same files before a byte of
them is read, each file is stored as it was read, and an object is only ever named by an
entry after the commit has made it durable. A failure while reading a file is raised at that
file's turn, as if it had been read then; a failure of the walk itself (a manifest that
cannot be read) likewise. Objects read ahead are not synced one by one: the commit syncs the
file system before it writes the entries that name them
(:meth:`evidence.storage.writer.Writer.flush`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Self

from evidence.storage.store import Store
from pipeline import order
from pipeline.intake import Place, Prepared, Rejected, described
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
        self,
        submissions: Iterable[Submission | Rejected],
        store: Store,
        *,
        depth: int = DEPTH,
        describe: bool = True,
    ) -> None:
        """Start reading. ``describe=False``: files are only stored until
        :meth:`describe_from_now` is called (the index is not loaded yet)."""
        from concurrent.futures import ThreadPoolExecutor

        self._store = store
        self._queue: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=depth)
        self._stop_reading = threading.Event()
        self._abandoned = threading.Event()
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="dalel-read")
        #: the files stored before describing may begin, with the future each waits in
        self._parked: list[tuple[Submission, Prepared, Future[Prepared | None]]] | None = (
            None if describe else []
        )
        self._lock = threading.Lock()
        #: each precinct's place, looked up once for the batch: only this batch writes the
        #: store while it runs, and it writes no registry
        self._places: dict[str, Place] = {}
        self._place_lock = threading.Lock()
        self._walker = threading.Thread(
            target=self._walk, args=(iter(submissions),), name="dalel-walk", daemon=True
        )
        self._walker.start()

    def describe_from_now(self) -> None:
        """Let the files be described from now on (the runner has loaded the index): those
        stored already are described on the reading threads."""
        with self._lock:
            parked, self._parked = self._parked or [], None
        for sub, prepared, outcome in parked:
            if self._stop_reading.is_set():
                outcome.set_result(None)  # the batch stopped reading: read in turn
            else:
                self._readers.submit(self._describe, sub, prepared, outcome)

    def _walk(self, subs: Iterator[Submission | Rejected]) -> None:
        try:
            for sub in subs:
                outcome: object = None
                if isinstance(sub, Submission) and self._reads(sub):
                    try:
                        outcome = self._readers.submit(self._read, sub)
                    except RuntimeError:  # halted meanwhile: read in turn
                        outcome = None
                if not self._put((sub, outcome)):
                    return
            self._put((_END, None))
        except Exception as e:  # the walk itself failed
            self._put((_END, e))

    def _read(self, sub: Submission) -> Prepared | Future[Prepared | None] | None:
        """Store ``sub`` and describe it; or, before describing may begin, store it and
        hand back the future its description will be given in."""
        if self._stop_reading.is_set():
            return None  # the batch stopped: only counted
        prepared = order.INTAKE.prepare(sub, self._store, durable=False)
        if prepared.stored is None or not prepared.stored.size:
            return prepared
        with self._lock:
            if self._parked is not None:
                later: Future[Prepared | None] = Future()
                self._parked.append((sub, prepared, later))
                return later
        return described(prepared, sub, self._store, self._place)

    def _describe(
        self, sub: Submission, prepared: Prepared, outcome: Future[Prepared | None]
    ) -> None:
        try:
            if self._stop_reading.is_set():
                outcome.set_result(None)  # the batch stopped: only counted
            else:
                outcome.set_result(described(prepared, sub, self._store, self._place))
        except BaseException as e:
            outcome.set_exception(e)

    def _place(self, precinct: str) -> Place:
        with self._place_lock:  # (the readers after the first wait for its answer)
            if precinct not in self._places:
                self._places[precinct] = order.INTAKE.place(self._store, precinct)
            return self._places[precinct]

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
            while isinstance(outcome, Future):  # read, or stored and then described
                try:
                    outcome = outcome.result()
                except Exception as e:
                    outcome = e
            yield sub, outcome  # type: ignore[misc]

    def stop_reading(self) -> None:
        """Read no more files ahead (the batch stops; what is left is only counted)."""
        self._stop_reading.set()

    def halt(self) -> None:
        """Read no more files ahead, and wait for those being read to end: the files after
        are read in their turn."""
        self._stop_reading.set()
        self._readers.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the threads, after the file each is reading (those not begun are not);
        again, nothing."""
        self._stop_reading.set()
        self._abandoned.set()
        self._walker.join()
        self._readers.shutdown(wait=True)
        with self._lock:
            parked, self._parked = self._parked or [], None
        for _, _, outcome in parked:  # never described: the batch ended before
            outcome.set_result(None)
