"""Atomic, durable file I/O: write through a temp file and a rename, fsync what must last."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def sync_file(path: Path) -> None:
    """fsync a file or a directory (so that a rename in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename: a
    reader sees the old file or the new one, never half of one. ``mode`` is set before any
    byte is written (0600 for secrets). ``durable=False`` skips the fsyncs when the caller
    syncs the file system itself afterwards."""
    import tempfile  # (here: a command that writes nothing needs none of it)

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        sync_file(path.parent)


def sync_filesystem(path: Path) -> None:
    """Flush every dirty page of the file system holding ``path`` (Linux syncfs), once for
    a whole batch instead of one fsync per file; os.sync() where syncfs is missing."""
    global _syncfs
    if _syncfs is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            _syncfs = libc.syncfs
        except (OSError, AttributeError):
            _syncfs = False
    if _syncfs is False:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


_syncfs: Any = None


fsync_dir = sync_file


class ChunkReader:
    """Bytes from an iterator of chunks, read like a file (``read(n)``): to hand a stream
    made on the fly (sealed, or with its first bytes already looked at) to whatever stores a
    stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out
