"""The store's one writer (the sequencer): it appends signed entries and commits them in batches.

A writer holds the store's write lock for as long as it is open, which can be one command or
the life of a server. At open it loads the Merkle tree saved beside the log (see
:mod:`evidence.storage.log`), so an append costs the same on a log of a hundred entries as on
one of a million, and it never reads the log again while it stays open. On each commit it
makes the queued entries durable, signs a checkpoint over the new tree, and then runs the
commit hooks the layers above registered on the store: receipts, checkpoint timestamps, the
index. The writer itself knows nothing of what they do, nor of any kind of entry.

Order of durability: objects (synced before an entry names them), log lines (one write,
fsync; with a head in PostgreSQL, moved before and confirmed after, see
:mod:`evidence.storage.headlock`), the saved tree, the signed checkpoint (temp, fsync,
rename), then the hooks. A crash anywhere leaves a store that passes audit; the next writer
finishes what was owed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

from base.errors import StoreBusy
from base.fsio import atomic_write, fsync_dir, sync_filesystem
from evidence.core import checkpoint as cp
from evidence.core import custody, events
from evidence.storage import log as logfile

if TYPE_CHECKING:
    from evidence.storage.index import Index
    from evidence.storage.store import Store

DEFAULT_LOCK_WAIT = 600.0
#: Disk space a writer holds back (``reserve`` in the store) for committing and receipting
#: what a batch took when the disk fills up under it: room for about 500 files' entries,
#: receipts and tokens.
RESERVE_FILE = "reserve"
RESERVE_BYTES = 4 << 20
#: At most this many entries after the latest checkpoint are loaded into memory at open.
UNCOVERED_IN_MEMORY = 10_000


@dataclass(frozen=True)
class Appended:
    """An entry appended by a writer."""

    seq: int
    """Its leaf index in the log."""
    line: bytes
    """The signed log line (without newline)."""
    entry: dict[str, Any]
    """The entry as signed (``v``, ``seq``, ``prev`` and ``time`` filled in)."""


@dataclass
class Commit:
    """What one commit produced; hooks read it and add what they wrote."""

    head: cp.SignedCheckpoint | None = None
    """The latest signed checkpoint after the commit (None while the log is empty)."""
    checkpoint: Path | None = None
    """The checkpoint note this commit signed, if it signed one."""
    receipts: dict[int, Path] = field(default_factory=dict)
    """Receipts written by this commit, by the entry's seq."""


class CommitHook(Protocol):
    """Work done on every commit, after the entries and the checkpoint are durable.

    Hooks run in the order they were registered. A hook may append entries and make them
    durable with :meth:`Writer.flush` (the checkpoint's timestamp does); they are signed into
    the next checkpoint. A hook may also have ``after_release(writer)``, run once the writer
    has let the lock go: for work that waits on a network (an external TSA), which must never
    hold the store."""

    def on_open(self, writer: Writer) -> None:
        """Called once the writer holds the lock and has loaded the tree."""

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        """Called on every commit."""


class FileLock:
    """An exclusive ``flock`` on ``path``, waited for up to ``wait`` seconds."""

    def __init__(self, path: Path, *, wait: float, on_wait: Callable[[], None] | None) -> None:
        self.path = path
        self.wait = wait
        self.on_wait = on_wait
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StoreBusy` after ``wait`` seconds."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise StoreBusy(
                        "another Dalel process has been writing to this store for too long",
                        fix="wait for it to finish, or check for a stuck process",
                    ) from None
                if not told and self.on_wait:
                    self.on_wait()
                    told = True
                time.sleep(0.05)
        self._fd = fd

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Let the lock go (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class Writer:
    """Holds the store's write lock; appends entries; commits them in batches."""

    def __init__(
        self,
        store: Store,
        *,
        hooks: Sequence[CommitHook] = (),
        wait: float = DEFAULT_LOCK_WAIT,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self._hooks_given = hooks
        #: the hooks as they were when the writer opened (those registered by then)
        self.hooks: tuple[CommitHook, ...] = ()
        self._lock = FileLock(store.root / "lock", wait=wait, on_wait=on_wait)
        self._wait, self._on_wait = wait, on_wait
        #: the log's head in a shared database, for a store written from several machines
        #: (:mod:`evidence.storage.headlock`); None: the folder's lock is enough
        self._guard = store.head_guard()
        #: the hash of the last line in the log (not queued): where the head is
        self._log_fd: int | None = None
        self._frontier = logfile.Frontier(store.log_path)
        self._pending: list[Appended] = []
        #: entries made durable by the commit under way, and the earlier ones the latest
        #: checkpoint does not cover yet (what hooks read)
        self.committed: list[Appended] = []
        #: entries this writer appended since it opened
        self.appended_since_open = 0
        self.head: cp.SignedCheckpoint | None = None
        self.commit_result: Commit | None = None
        self._index_caught_up = False
        #: what stopped the log taking lines; the writer refuses to go on after it
        self._broken: Exception | None = None

    # --- life ------------------------------------------------------------------------
    def hold(self) -> Self:
        """Take the lock and keep the disk's reserve: what must be held before a file of a
        batch is copied into the store. :meth:`open` then does the rest (it takes the lock
        itself when this was not called); :meth:`close` lets it go."""
        if not self._lock.held:
            self._lock.acquire()
            try:
                self._keep_reserve()
            except BaseException:
                self._lock.release()
                raise
        return self

    def open(self) -> Self:
        """Take the lock (unless :meth:`hold` did), recover an interrupted append, load the
        tree, run ``on_open``. When it fails, a lock :meth:`hold` took stays held until
        :meth:`close` (what the caller began under it may still be going)."""
        held_before = self._lock.held
        self.hold()
        try:
            self._recover_torn_tail()
            self.head = self.store.latest_checkpoint()
            signed = (self.head.checkpoint.size, self.head.checkpoint.root) if self.head else None
            loaded = self._frontier.load(signed)
            self.tree = loaded.tree
            self.last_hash = loaded.last_hash
            self._log_bytes = loaded.log_bytes
            self._frontier_size = loaded.persisted
            self._load_uncovered()
            self._durable_hash = self.last_hash
            if self._guard is not None:
                self._guard.acquire(
                    self.tree.size, self.last_hash, self, wait=self._wait, on_wait=self._on_wait
                )
                if self._guard.moved_back is not None:
                    self._note_head_moved_back(*self._guard.moved_back)
            self._log_fd = os.open(self.store.log_path, os.O_WRONLY | os.O_APPEND)
            self.store.objects.durable_each = False  # a commit syncs the file system once
            self.hooks = tuple(self._hooks_given)
            for hook in self.hooks:
                hook.on_open(self)
        except BaseException:
            self._close_files(release_lock=not held_before)
            raise
        return self

    def _keep_reserve(self) -> None:
        """Hold :data:`RESERVE_BYTES` of the disk in ``reserve`` (made when there is room), so
        that when the disk fills up in the middle of a batch, :meth:`release_reserve` leaves
        room to commit and receipt what the batch took."""
        path = self.store.root / RESERVE_FILE
        if path.exists():
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:  # no room for it now: none is kept
            os.close(fd)
            path.unlink(missing_ok=True)
            return
        os.close(fd)

    def release_reserve(self) -> bool:
        """Give the reserve back to the disk (it is full): whether there was one."""
        try:
            (self.store.root / RESERVE_FILE).unlink()
        except OSError:
            return False
        return True

    def _load_uncovered(self) -> None:
        """Keep in memory the entries the latest checkpoint does not cover (usually its own
        timestamp entry), read once from the log's end, so that commits read nothing back."""
        covered = self.head.checkpoint.size if self.head else 0
        count = self.tree.size - covered
        if 0 < count <= UNCOVERED_IN_MEMORY:
            lines = logfile.last_lines(self.store.log_path, count, end=self._log_bytes)
            self.committed = [
                Appended(seq, line, custody.parse_line(line).entry)
                for seq, line in enumerate(lines, start=covered)
            ]

    def close(self) -> None:
        """Release the lock (queued entries not committed are dropped), then run the hooks'
        ``after_release`` (work that must not hold the lock: waiting on a network)."""
        was_open = self._log_fd is not None
        self._close_files()
        if not was_open:
            return
        for hook in self.hooks:
            after = getattr(hook, "after_release", None)
            if after is not None:
                after(self)

    def _close_files(self, *, release_lock: bool = True) -> None:
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        self.store.objects.durable_each = True
        if self._guard is not None:
            self._guard.release()
        if release_lock:
            self._lock.release()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.commit_result = self.commit()
        finally:
            self.close()

    # --- recovery --------------------------------------------------------------------
    def _recover_torn_tail(self) -> None:
        """Move an interrupted, never-committed append out of the log into quarantine."""
        path = self.store.log_path
        n = logfile.torn_tail(path)
        if not n:
            return
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(size - n)
            fragment = f.read()
        self._quarantine_note(
            "torn-log-append",
            {
                "reason": "TORN_LOG_APPEND",
                "detail": "an append was interrupted before it "
                "completed; the fragment was never part of the log",
                "bytes": n,
            },
            fragment=fragment,
        )
        os.truncate(path, size - n)

    def hash_at(self, size: int) -> str | None:
        """The hash of line ``size - 1`` of the loaded log (the genesis hash for 0), None
        when it has fewer lines (:class:`evidence.storage.headlock.LogView`)."""
        if not 0 <= size <= self.tree.size:
            return None
        if size == self.tree.size:
            return self.last_hash
        if size == 0:
            return custody.GENESIS_PREV
        lines = logfile.last_lines(
            self.store.log_path, self.tree.size - size + 1, end=self._log_bytes
        )
        return custody.line_hash(lines[0])

    def make_durable(self) -> None:
        """Sync the log as loaded (a writer killed before its fsync left lines unsynced)."""
        fd = os.open(self.store.log_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _note_head_moved_back(self, size: int, last_hash: str, back_to: int) -> None:
        """Leave in the quarantine why the head in the database was moved back (a writer
        stopped between moving it and writing all its lines)."""
        self._quarantine_note(
            "head-moved-back",
            {
                "reason": "HEAD_MOVED_BACK",
                "detail": "the log's head in the database named entries a writer never "
                "made durable (it stopped after moving the head, before all of them were "
                "written; no receipt was given for any of them): the head was moved back "
                "to this log's end",
                "head_size": size,
                "head_last_hash": last_hash,
                "log_size": back_to,
            },
        )

    def _quarantine_note(self, name: str, reason: dict[str, Any], **files: bytes) -> None:
        """A folder of the quarantine, ``<stamp>-<name>``, holding ``reason.json`` and
        ``files`` (name -> bytes), synced."""
        qdir = self.store.quarantine_dir / f"{_stamp()}-{name}"
        qdir.mkdir(parents=True)
        for file, data in files.items():
            (qdir / file).write_bytes(data)
        (qdir / "reason.json").write_bytes(custody.canonical(reason))
        fsync_dir(qdir)

    @property
    def index(self) -> Index:
        """The store's index, caught up with the log's committed entries under this writer's
        lock (what the operations that check before they append read)."""
        index = self.store.index
        if not self._index_caught_up:
            index.catch_up()
            self._index_caught_up = True
        return index

    def forget_saved_tree(self) -> None:
        """Drop the saved tree (a hook found a node of it wrong): the next writer hashes the
        whole log again."""
        self._frontier.discard()

    @property
    def log_bytes(self) -> int:
        """Bytes of the log that are durable (where the next line will start)."""
        return self._log_bytes

    # --- appending -------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Entries in the log, queued ones included."""
        return self.tree.size

    def append(self, entry: dict[str, Any]) -> Appended:
        """Check ``entry`` against its kind's schema, sign it and queue it; ``seq``, ``prev``,
        ``v`` and ``time`` are filled in. Queued entries reach the log at the next
        :meth:`commit` (or :meth:`flush`), after the objects they name are durable."""
        assert self._log_fd is not None, "writer is not open"
        self._check_usable()
        events.check(entry)
        full = dict(entry)
        full["v"] = custody.FORMAT_VERSION
        full["seq"] = self.tree.size
        full["prev"] = self.last_hash
        full.setdefault("time", custody.utc_now())
        line = custody.make_line(full, self.store.log_key)
        self.tree.append(line)
        self.last_hash = custody.line_hash(line)
        appended = Appended(full["seq"], line, full)
        self._pending.append(appended)
        self.appended_since_open += 1
        return appended

    def flush(self, objects: tuple[str, ...] | None = None) -> None:
        """Make the queued entries durable: the objects they name first, then the lines in
        one write and an fsync. ``objects``: the only objects the queued entries name, made
        durable one by one instead of syncing the whole file system (cheaper for a token)."""
        assert self._log_fd is not None
        self._check_usable()
        if not self._pending:
            return
        if objects is None:
            sync_filesystem(self.store.root)
        else:
            self.store.objects.make_durable(objects)
        old = (self.tree.size - len(self._pending), self._durable_hash)
        new = (self.tree.size, self.last_hash)
        if self._guard is not None:  # the head moves first: a refused swap writes nothing
            self._guard.advance(old, new)
        data = b"".join(a.line + b"\n" for a in self._pending)
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._log_fd, view)
                view = view[n:]
            os.fsync(self._log_fd)
        except OSError as e:
            self._fail(e)
            if self._guard is not None:  # the log ends where it did: so does the head
                self._guard.give_back(new, old)  # (else the next writer's open moves it back)
            raise
        self._log_bytes += len(data)
        self._durable_hash = self.last_hash
        self.committed.extend(self._pending)
        self._pending = []
        self._frontier.extend(self._frontier_size, self.tree, self._log_bytes, self.last_hash)
        self._frontier_size = self.tree.size
        if self._guard is not None:  # the lines are durable: no writer may move back over them
            try:
                self._guard.confirm(new)
            except Exception as e:  # no receipt for them, and nothing more from this writer
                self._broken = e
                raise

    def _fail(self, e: OSError) -> None:
        """The log could not take the queued lines (a full or failing disk): cut what part of
        them reached it (the log ends at its last durable line again) and refuse any further
        append, flush or commit in this writer (its tree holds lines the log does not)."""
        self._broken = e
        try:
            os.ftruncate(self._log_fd, self._log_bytes)  # type: ignore[arg-type]
            os.fsync(self._log_fd)  # type: ignore[arg-type]
        except OSError:
            pass  # the next writer moves a torn tail to the quarantine

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise self._broken

    def commit(self) -> Commit:
        """Make the queued entries durable, sign a checkpoint over them, run the hooks."""
        assert self._log_fd is not None
        self._check_usable()
        self.flush()
        result = Commit(head=self.head)
        size = self.tree.size
        if (
            size
            and (self.head is None or self.head.checkpoint.size < size)
            and self._needs_checkpoint()
        ):
            text = cp.sign(
                cp.Checkpoint(self.store.config.origin, size, self.tree.root()), self.store.log_key
            )
            path = self.store.checkpoints_dir / f"{size:012d}.note"
            atomic_write(path, text.encode())
            result.checkpoint = path
            self.head = result.head = cp.parse(text)
        for hook in self.hooks:
            hook.on_commit(self, result)
        # Receipted and indexed: keep in memory only what the latest checkpoint does not
        # cover yet (its own timestamp entry), so that the next commit reads nothing back.
        covered = self.head.checkpoint.size if self.head else 0
        self.committed = [a for a in self.committed if a.seq >= covered]
        return result

    def _needs_checkpoint(self) -> bool:
        """Entries after the latest checkpoint need a new one, unless all they are is the
        latest checkpoint's own timestamp (else every session, even an idle one, would sign
        a checkpoint, stamp it, and so on: running again must add nothing)."""
        if self.appended_since_open or self.head is None:
            return True
        for _, _, e in self.entries(self.head.checkpoint.size, self.tree.size):
            if e.get("event") != events.TIMESTAMP or any(
                t.get("target") != "checkpoint" for t in e.get("tokens", [])
            ):
                return True
        return False

    # --- reading what was written ----------------------------------------------------
    def entries(self, start: int, stop: int) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
        """Durable log lines ``start..stop-1`` with their entries: from memory when this
        commit wrote them, else from the log's end (after a crash, the previous writer's)."""
        first_mine = self.committed[0].seq if self.committed else stop
        durable = self.tree.size - len(self._pending)
        upto = min(first_mine, stop, durable)
        if start < upto:
            older = logfile.last_lines(self.store.log_path, durable - start, end=self._log_bytes)
            for seq, line in enumerate(older[: upto - start], start=start):
                yield seq, line, custody.parse_line(line).entry
        for a in self.committed:
            if a.seq >= stop:
                break
            if a.seq >= start:
                yield a.seq, a.line, a.entry


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
