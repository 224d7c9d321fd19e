"""Reading the next files while this one is logged: intake's reading on threads of its own.

Storing a file is mostly waiting on the kernel (copying its bytes into the store, hashing the
copy: Python's lock is let go meanwhile), and describing and logging it is mostly Python
(libmagic and EXIF, ffprobe, its signed entry, the index). A :class:`ReadAhead` stores the
files handed in up to ``depth`` files ahead of the runner, which describes and logs them in
the order they were handed in: one thread copies a file while another hashes the one before
and the runner logs an earlier one. It starts once the writer is open (the lock held, its
reserve of disk space kept). Nothing about what is logged changes: the same checks refuse
the same files before a byte of them is read, each file is stored as it was read, and an
object is only ever named by an entry after the commit has made it durable. A failure while
reading a file is raised at that file's turn, as if it had been read then; a failure of the
walk itself (a manifest that cannot be read) likewise. Objects read ahead are not synced one
by one: the commit syncs the file system before it writes the entries that name them
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
from pipeline.intake import Prepared, Rejected
from pipeline.stages import Submission

#: Files read ahead of the one being logged, at most: enough for the reading to go on while
#: the runner loads what it first needs (the stampers, the receipts); each holds only its
#: first bytes (256 KiB) in memory.
DEPTH = 64
#: Files copied but not yet hashed, at most (each an open temporary file).
COPIED_AHEAD = 4
#: Threads hashing copies: two files are hashed at once (hashing is the longest part).
HASHERS = 2

_END = object()


class ReadAhead:
    """The submissions, each with what was read of it ahead (None: nothing; an exception:
    what reading it raised), in their order. Use as a context manager: leaving it stops the
    reading threads.

    One thread walks the submissions and copies each file into the store's temporary folder
    (the kernel copies); :data:`HASHERS` threads hash the copies and put them in place
    (:meth:`IntakeStage.sealed`), so that copying one file and hashing the ones before go on
    at once. The runner takes each file's outcome in the order handed in."""

    def __init__(
        self, submissions: Iterable[Submission | Rejected], store: Store, *, depth: int = DEPTH
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._store = store
        self._queue: queue.Queue[tuple[object, object]] = queue.Queue(maxsize=depth)
        self._unsealed = threading.Semaphore(COPIED_AHEAD)
        self._stop_reading = threading.Event()
        self._abandoned = threading.Event()
        self._hashers = ThreadPoolExecutor(HASHERS, thread_name_prefix="dalel-hash")
        self._copier = threading.Thread(
            target=self._copy, args=(iter(submissions),), name="dalel-copy", daemon=True
        )
        self._copier.start()

    def _copy(self, subs: Iterator[Submission | Rejected]) -> None:
        try:
            for sub in subs:
                outcome: object = None
                if self._reads(sub):
                    assert isinstance(sub, Submission)
                    while not self._unsealed.acquire(timeout=0.1):
                        if self._abandoned.is_set():
                            return
                    try:
                        started = order.INTAKE.prepare(sub, self._store, seal=False)
                    except Exception as e:
                        started = None
                        outcome = e
                    if isinstance(started, Prepared) and started.copied is not None:
                        outcome = self._hashers.submit(self._seal, sub, started)
                    else:
                        self._unsealed.release()
                        outcome = outcome if started is None else started
                if not self._put((sub, outcome)):
                    return
            self._put((_END, None))
        except Exception as e:  # the walk itself failed
            self._put((_END, e))

    def _seal(self, sub: Submission, started: Prepared) -> Prepared | None:
        try:
            if self._stop_reading.is_set():
                self._drop(started)  # the batch stopped: only counted
                return None
            return order.INTAKE.sealed(started, sub, self._store, durable=False)
        finally:
            self._unsealed.release()

    def _drop(self, started: object) -> None:
        """Remove a copy that will not be sealed."""
        if isinstance(started, Prepared) and started.copied is not None:
            self._store.objects.discard(started.copied)

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
        return False  # (a copy handed to the hashers is dropped there: the batch stopped)

    def __iter__(self) -> Iterator[tuple[Submission | Rejected, Prepared | BaseException | None]]:
        while True:
            try:
                sub, outcome = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._copier.is_alive() or not self._queue.empty():
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
        """Stop the threads, after the file each is on; copies not sealed are removed."""
        self._stop_reading.set()
        self._abandoned.set()
        self._copier.join()
        self._hashers.shutdown(wait=True)  # a copy whose hashing had not begun is dropped
