"""Content-addressed, write-once blob storage.

``BlobStore`` is the narrow interface the stages use; ``FileBlobStore`` keeps blobs as
read-only files named by their SHA-256 (``objects/ab/cdef...``), each written to a temp
file, fsynced and renamed into place. An S3-compatible store with Object Lock can
implement the same interface.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from base.fsio import fsync_dir, sync_file

CHUNK = 1 << 20
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class Stored:
    """What a put returned: the blob's hash and size, and whether it was new."""

    sha256: str
    size: int
    new: bool
    head: bytes = field(default=b"", compare=False, repr=False)
    """The blob's first bytes (up to the ``head`` asked of :meth:`FileBlobStore.put_file`),
    read in the pass that hashed it: what metadata needs, without opening the blob again."""


@dataclass(frozen=True)
class Copied:
    """A file copied into the store's temporary folder (:meth:`FileBlobStore.copy_in`),
    not yet hashed nor in place."""

    fd: int
    """The copy, open for reading and writing."""
    tmp: str
    """Its path."""
    size: int
    """Bytes copied."""


class BlobStore(Protocol):
    """Write-once blobs addressed by SHA-256."""

    def put_stream(self, stream: BinaryIO) -> Stored:
        """Store a stream, hashing while writing; a blob already there is not written again."""
        ...

    def put_bytes(self, data: bytes) -> Stored:
        """Store bytes."""
        ...

    def put_file(self, src: BinaryIO, *, head: int = 0, durable: bool | None = None) -> Stored:
        """Store the regular file open as ``src`` from its first byte to its end, hashing
        exactly the bytes stored; ``head``: how many first bytes to return with it;
        ``durable=False``: the caller makes it durable before anything names it."""
        ...

    def adopt(self, path: Path, sha256: str) -> Stored:
        """Store a file whose SHA-256 the caller computed as its bytes arrived, without
        reading it again where the store can (a received upload); the file itself may be
        taken (made read-only, linked or moved) and must not be written again."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is there."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """The blob as a stream (FileNotFoundError when missing)."""
        ...

    def read(self, sha256: str) -> bytes:
        """The whole blob (for small ones: tokens, readings, crops)."""
        ...

    def size(self, sha256: str) -> int | None:
        """The blob's size in bytes; None when it is missing."""
        ...

    def local_copy(self, sha256: str) -> AbstractContextManager[Path]:
        """A local file holding the blob, for a tool that needs a path (ffprobe, EXIF)."""
        ...

    def make_durable(self, sha256s: Iterable[str]) -> None:
        """Make these blobs survive a crash (a writer calls it before naming them)."""
        ...

    def hash_of(self, sha256: str) -> str | None:
        """Re-hash the stored blob; None when it is missing."""
        ...

    def list(self) -> Iterator[str]:
        """Every blob's hash."""
        ...


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 hex and size of a stream, read in chunks."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


#: Bytes one ``copy_file_range`` call copies at most.
COPY_PIECE = 64 << 20
#: Bytes read back and hashed at a time (a buffer reused for the whole file).
HASH_PIECE = 4 << 20
#: What ``copy_file_range`` answers where the kernel cannot copy between these files (another
#: file system, an old kernel, a file system without it): the bytes are read and written.
_NO_KERNEL_COPY = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


def copy_file(fd_in: int, fd_out: int) -> int:
    """Copy ``fd_in`` from its start to its end (however long it is by then) into
    ``fd_out``; the bytes copied. The kernel copies (``copy_file_range``: no byte passes
    through this process, and Python's lock is let go for the whole of it); where it cannot,
    the bytes are read and written."""
    offset, kernel = 0, hasattr(os, "copy_file_range")
    while True:
        n = 0
        if kernel:
            try:
                n = os.copy_file_range(fd_in, fd_out, COPY_PIECE, offset, offset)
            except OSError as e:
                if e.errno not in _NO_KERNEL_COPY:
                    raise
                kernel = False
        if n == 0:
            # the end, or a file the kernel copies nothing of (procfs answers 0): a read says
            # which; from here on, the bytes are read and written
            data = os.pread(fd_in, CHUNK, offset)
            if not data:
                return offset
            kernel = False
            view, at = memoryview(data), offset
            while view:
                w = os.pwrite(fd_out, view, at)
                view, at = view[w:], at + w
            n = len(data)
        offset += n


#: Files from this size on are hashed through read-only maps of their pages (no copy into
#: this process: 0.06-0.1 CPU-s less per GiB); smaller ones are read.
MAP_FROM = 1 << 20
#: Bytes mapped at a time: the pages mapped count in the process's resident size, so a file
#: of several GB is hashed a window after another.
MAP_WINDOW = 64 << 20


def hash_file(fd: int, size: int, head: int = 0) -> tuple[str, bytes]:
    """SHA-256 of the first ``size`` bytes of ``fd`` (all there must be), and the first
    ``head`` of them: mapped (the pages the kernel holds, hashed where they are, Python's
    lock let go for each window) from :data:`MAP_FROM` on, else read through one reused
    buffer."""
    if size >= MAP_FROM:
        return _hash_mapped(fd, size, head)
    sha = hashlib.sha256()
    buf = bytearray(min(HASH_PIECE, max(size, 1)))
    view = memoryview(buf)
    first = b""
    offset = 0
    while offset < size:
        got = os.preadv(fd, [view[: min(len(buf), size - offset)]], offset)
        if got == 0:
            raise OSError(errno.EIO, "the stored copy is shorter than what was copied")
        sha.update(view[:got])
        if offset < head:
            first += bytes(view[: min(got, head - offset)])
        offset += got
    return sha.hexdigest(), first


def _hash_mapped(fd: int, size: int, head: int) -> tuple[str, bytes]:
    import mmap

    if os.fstat(fd).st_size < size:
        raise OSError(errno.EIO, "the stored copy is shorter than what was copied")
    sha = hashlib.sha256()
    first = b""
    for offset in range(0, size, MAP_WINDOW):
        length = min(MAP_WINDOW, size - offset)
        with mmap.mmap(fd, length, prot=mmap.PROT_READ, offset=offset) as pages:
            sha.update(pages)
            if offset < head:
                first += pages[: min(length, head - offset)]
    return sha.hexdigest(), first


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages to the disk now, without
    waiting (Linux ``sync_file_range``): a batch's objects are on their way while the next
    ones are copied, and the commit's sync has little left to wait for. Durability is still
    the commit's sync; where the call is missing this does nothing."""
    global _sync_file_range
    if _sync_file_range is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.sync_file_range
            fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
            _sync_file_range = fn
        except (OSError, AttributeError):
            _sync_file_range = False
    if _sync_file_range:
        _sync_file_range(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE


_sync_file_range: Any = None


_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a SHA-256 as the store names objects: 64 lowercase hex digits."""
    return _SHA256.fullmatch(text) is not None


class FileBlobStore:
    """Blobs as read-only files under one directory."""

    def __init__(self, root: Path, *, durable_each: bool = True) -> None:
        self.root = root
        self._root_text = str(root)
        self.tmp = root / "tmp"
        #: fsync every blob as it is written; a writer that syncs the file system once
        #: before it logs the batch turns this off.
        self.durable_each = durable_each
        #: Folders this store made or found (a batch of tokens asks for the same ones).
        self._folders: set[Path] = set()

    def _folder(self, folder: Path) -> None:
        """Make ``folder`` (and its parents) unless this store already did."""
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)

    def _temp(self) -> tuple[int, str]:
        """A new temporary file in the store's ``tmp`` folder (made again if it was removed
        since this store made it)."""
        import tempfile  # (here: reading the store needs none of it)

        self._folder(self.tmp)
        try:
            return tempfile.mkstemp(dir=self.tmp, prefix="in-")
        except FileNotFoundError:
            self._folders.discard(self.tmp)
            self._folder(self.tmp)
            return tempfile.mkstemp(dir=self.tmp, prefix="in-")

    def _into_place(self, tmp_name: str, dest: Path) -> None:
        """Rename the finished temporary file to ``dest``, making its folder if needed (also
        when the folder was removed since this store made it)."""
        self._folder(dest.parent)
        try:
            os.replace(tmp_name, dest)
        except FileNotFoundError:
            if not os.path.exists(tmp_name):
                raise
            self._folders.discard(dest.parent)
            self._folder(dest.parent)
            os.replace(tmp_name, dest)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def _file(self, sha256: str) -> str:
        """:meth:`path` as text, without building a Path (an audit opens every blob)."""
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return os.path.join(self._root_text, sha256[:2], sha256[2:])

    def put_stream(self, stream: BinaryIO) -> Stored:
        """Stream into a temp file while hashing; fsync; rename into place (once)."""
        h = hashlib.sha256()
        size = 0
        fd, tmp_name = self._temp()
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = h.hexdigest()
            dest = self.path(digest)
            if dest.exists():
                os.unlink(tmp_name)
                return Stored(digest, size, False)
            os.chmod(tmp_name, 0o444)
            self._into_place(tmp_name, dest)
            if self.durable_each:
                sync_file(dest)
                fsync_dir(dest.parent)
            return Stored(digest, size, True)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def put_file(self, src: BinaryIO, *, head: int = 0, durable: bool | None = None) -> Stored:
        """Copy the regular file open as ``src`` into place, from its first byte to its end
        (however long it is by then), then hash the copy: :meth:`copy_in`, then
        :meth:`seal`.

        The kernel copies (:func:`copy_file`), and the SHA-256 is that of the copy read back
        (from memory: its pages were just written), so it names exactly the bytes stored,
        even when ``src`` changes while it is read. The file is read once, and Python's lock
        is let go while the kernel copies and while each piece is hashed. ``head``: how many
        first bytes of the blob to return with it. ``durable``: fsync it now (default:
        :attr:`durable_each`); when not, its pages are sent on their way to the disk at once,
        and the caller syncs before naming it."""
        return self.seal(self.copy_in(src), head=head, durable=durable)

    def copy_in(self, src: BinaryIO) -> Copied:
        """The first half of :meth:`put_file`: ``src`` copied into a temporary file of the
        store, to :meth:`seal`."""
        fd, tmp_name = self._temp()
        try:
            size = copy_file(src.fileno(), fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp_name)
            raise
        return Copied(fd, tmp_name, size)

    def seal(self, copied: Copied, *, head: int = 0, durable: bool | None = None) -> Stored:
        """The second half of :meth:`put_file`: hash the copy and rename it into place under
        its hash (or drop it: that blob is already there)."""
        durable = self.durable_each if durable is None else durable
        fd, tmp_name = copied.fd, copied.tmp
        try:
            try:
                digest, first = hash_file(fd, copied.size, head)
                dest = self.path(digest)
                if dest.exists():
                    os.unlink(tmp_name)
                    return Stored(digest, copied.size, False, first)
                os.fchmod(fd, 0o444)
                if not durable:
                    start_writeback(fd)  # on its way to the disk before the commit syncs it
            finally:
                os.close(fd)
            self._into_place(tmp_name, dest)
            if durable:
                sync_file(dest)
                fsync_dir(dest.parent)
            return Stored(digest, copied.size, True, first)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def adopt(self, path: Path, sha256: str) -> Stored:
        """A hard link into place (the file made read-only first): no byte read or copied.
        On another file system, or where links are refused, a copy hashed as usual, which
        must give ``sha256``."""
        dest = self.path(sha256)
        size = os.stat(path).st_size
        if dest.exists():
            return Stored(sha256, size, False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o444)
        try:
            os.link(path, dest)
        except FileExistsError:
            return Stored(sha256, size, False)
        except OSError as e:
            if e.errno not in _NO_LINK:
                raise
            with open(path, "rb") as f:
                stored = self.put_stream(f)
            if stored.sha256 != sha256:
                raise ValueError(
                    f"{path} does not have the SHA-256 {sha256} it was handed in with"
                ) from None
            return stored
        if self.durable_each:
            sync_file(dest)
            fsync_dir(dest.parent)
        return Stored(sha256, size, True)

    def put_bytes(self, data: bytes) -> Stored:
        import io

        return self.put_stream(io.BytesIO(data))

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return open(self._file(sha256), "rb")

    def read(self, sha256: str) -> bytes:
        with open(self._file(sha256), "rb") as f:
            return f.read()

    def size(self, sha256: str) -> int | None:
        try:
            return os.stat(self._file(sha256)).st_size
        except FileNotFoundError:
            return None

    @contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """The blob's own read-only file: no copy is needed on a local disk."""
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(path)
        yield path

    def make_durable(self, sha256s: Iterable[str]) -> None:
        for sha in sha256s:
            path = self.path(sha)
            sync_file(path)
            fsync_dir(path.parent)

    def hash_of(self, sha256: str) -> str | None:
        """Re-hash the stored blob; None when it is missing."""
        try:
            with self.open(sha256) as f:
                return sha256_stream(f)[0]
        except FileNotFoundError:
            return None

    def list(self) -> Iterator[str]:
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) == 2 and sub.is_dir():
                for f in sorted(sub.iterdir()):
                    yield sub.name + f.name
