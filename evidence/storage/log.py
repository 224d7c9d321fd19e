"""The custody log file, and the persisted Merkle frontier that spares a writer replaying it.

``log/custody.jsonl`` is the source of truth: one signed canonical JSON entry per line.
Reading it is streaming; the recent end can be read backwards without touching the rest.

``log/leaves`` (32 bytes a leaf: the RFC 9162 leaf hashes, in order) and ``log/frontier.json``
(how many leaves, how many bytes of the log they cover, the last line's hash) are a cache a
writer loads at open instead of hashing every line again. It is derived data: a writer checks
it against the log's last covered line and against the latest signed checkpoint's root, and
rebuilds it from the log whenever anything disagrees.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from base.fsio import atomic_write
from evidence.core import custody, merkle

LEAVES_FILE = "leaves"
FRONTIER_FILE = "frontier.json"
_HASH = 32


def read_log_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of a log file; a torn final fragment (no newline) is not yielded."""
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                yield line[:-1]


def lines_after(path: Path, offset: int) -> Iterator[bytes]:
    """Complete lines starting at byte ``offset`` (which must start a line)."""
    with open(path, "rb") as f:
        f.seek(offset)
        for line in f:
            if line.endswith(b"\n"):
                yield line[:-1]


def torn_tail(path: Path) -> int:
    """Bytes after the last newline of the log (an interrupted append), 0 when none."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb") as f:
        back = min(size, 1 << 16)
        while True:
            f.seek(size - back)
            chunk = f.read(back)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return back - i - 1
            if back == size:
                return size
            back = min(size, back * 4)


def last_lines(path: Path, count: int, *, end: int | None = None) -> list[bytes]:
    """The last ``count`` complete lines before byte ``end`` (default: the end of the file),
    oldest first, read backwards in blocks: the cost depends on ``count``, not the log's size.
    ``end`` must fall just after a newline."""
    if count <= 0:
        return []
    with open(path, "rb") as f:
        pos = f.seek(0, os.SEEK_END) if end is None else end
        buf = b""
        block = 1 << 16
        # buf holds bytes [pos, end); it ends with a newline. Lines are found from the back.
        while pos > 0 and buf.count(b"\n") <= count:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            block = min(block * 2, 1 << 24)
    lines = buf.split(b"\n")[:-1]  # the part after the final newline is empty
    if pos > 0:
        lines = lines[1:]  # the first piece may be a partial line
    return lines[-count:]


@dataclass(frozen=True)
class Loaded:
    """A tree loaded for a writer, and how it was obtained."""

    tree: merkle.MerkleTree
    """Every leaf of the log, with its full subtrees (so any inclusion proof can be made)."""
    last_hash: str
    """SHA-256 of the last line (what the next entry's ``prev`` names)."""
    log_bytes: int
    """Bytes of the log the tree covers (its whole length after a torn tail is removed)."""
    from_frontier: bool
    """True when the persisted leaves were used; False when the whole log was hashed."""


class Frontier:
    """The persisted leaf hashes of one log, and the bytes of the log they cover."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.leaves_path = log_path.parent / LEAVES_FILE
        self.meta_path = log_path.parent / FRONTIER_FILE

    def load(self, checkpoint: tuple[int, bytes] | None) -> Loaded:
        """The tree over the whole log: from the persisted leaves when they agree with the log
        and with ``checkpoint`` (size, root of the latest signed checkpoint), and the lines
        after them; otherwise from every line of the log, and the cache written again."""
        loaded = self._from_cache(checkpoint)
        if loaded is None:
            loaded = self._from_log()
            self._rewrite(loaded)
        return loaded

    def _read_meta(self) -> tuple[int, int, str] | None:
        try:
            meta = json.loads(self.meta_path.read_bytes())
            return int(meta["size"]), int(meta["log_bytes"]), str(meta["last_hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _from_cache(self, checkpoint: tuple[int, bytes] | None) -> Loaded | None:
        meta = self._read_meta()
        if meta is None:
            return None
        size, covered, last_hash = meta
        log_size = self.log_path.stat().st_size
        try:
            with open(self.leaves_path, "rb") as f:
                raw = f.read(size * _HASH)
        except OSError:
            return None
        if size < 1 or len(raw) != size * _HASH or covered > log_size:
            return None
        tail = last_lines(self.log_path, 1, end=covered)
        if len(tail) != 1 or custody.line_hash(tail[0]) != last_hash:
            return None
        if merkle.leaf_hash(tail[0]) != raw[-_HASH:]:
            return None
        tree = merkle.MerkleTree(raw[i : i + _HASH] for i in range(0, len(raw), _HASH))
        last = last_hash
        end = covered
        for line in lines_after(self.log_path, covered):
            tree.append(line)
            last = custody.line_hash(line)
            end += len(line) + 1
        if checkpoint is not None:
            cp_size, cp_root = checkpoint
            if cp_size > tree.size or tree.root(cp_size) != cp_root:
                return None
            # Cached leaves after the checkpoint are not covered by its signature: check them
            # against the log's lines (a few: what was appended since the last checkpoint).
            if cp_size < size:
                recent = last_lines(self.log_path, size - cp_size, end=covered)
                if [merkle.leaf_hash(line) for line in recent] != [
                    tree.leaf(i) for i in range(cp_size, size)
                ]:
                    return None
        return Loaded(tree, last, end, True)

    def _from_log(self) -> Loaded:
        tree = merkle.MerkleTree()
        last = custody.GENESIS_PREV
        covered = 0
        for line in read_log_lines(self.log_path):
            tree.append(line)
            last = custody.line_hash(line)
            covered += len(line) + 1
        return Loaded(tree, last, covered, False)

    def _rewrite(self, loaded: Loaded) -> None:
        atomic_write(self.leaves_path, b"".join(loaded.tree.levels[0]), durable=False)
        self._write_meta(loaded.tree.size, loaded.log_bytes, loaded.last_hash)

    def extend(
        self, old_size: int, tree: merkle.MerkleTree, log_bytes: int, last_hash: str
    ) -> None:
        """Record the leaves ``old_size..`` that were just made durable in the log."""
        with open(self.leaves_path, "r+b" if self.leaves_path.exists() else "wb") as f:
            f.truncate(old_size * _HASH)
            f.seek(old_size * _HASH)
            f.write(b"".join(tree.levels[0][old_size:]))
        self._write_meta(tree.size, log_bytes, last_hash)

    def _write_meta(self, size: int, log_bytes: int, last_hash: str) -> None:
        data = json.dumps({"size": size, "log_bytes": log_bytes, "last_hash": last_hash})
        atomic_write(self.meta_path, data.encode(), durable=False)
