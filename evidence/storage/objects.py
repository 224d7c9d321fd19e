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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from base.fsio import fsync_dir, sync_file

CHUNK = 1 << 20
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class Stored:
    """What a put returned: the blob's hash and size, and whether it was new."""

    sha256: str
    size: int
    new: bool


class BlobStore(Protocol):
    """Write-once blobs addressed by SHA-256."""

    def put_stream(self, stream: BinaryIO) -> Stored:
        """Store a stream, hashing while writing; a blob already there is not written again."""
        ...

    def put_bytes(self, data: bytes) -> Stored:
        """Store bytes."""
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
        self.tmp.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        import tempfile  # (here: reading the store needs none of it)

        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="in-")
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
            dest.parent.mkdir(exist_ok=True)
            os.chmod(tmp_name, 0o444)
            os.replace(tmp_name, dest)
            if self.durable_each:
                sync_file(dest)
                fsync_dir(dest.parent)
            return Stored(digest, size, True)
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
