"""The custody log file, and the persisted Merkle frontier that spares a writer replaying it.

``log/custody.jsonl`` is the source of truth: one signed canonical JSON entry per line.
Reading it is streaming; the recent end can be read backwards without touching the rest.

``log/tree/K`` (the tree's full subtrees of 2**K leaves, 32 bytes each, K = 0 the leaves) and
``log/frontier.json`` (how many leaves, how many bytes of the log they cover, the last line's
hash) are a cache a writer loads at open instead of hashing every line again: loading costs a
read of the files, not a hash per entry. It is derived data: a writer checks it against the
log's last covered line and against the latest signed checkpoint's root, and rebuilds it from
the log whenever anything disagrees.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.errors import cannot_write
from base.fsio import atomic_write
from evidence.core import custody, merkle

TREE_DIR = "tree"
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
    persisted: int
    """Leaves whose levels the saved files hold and can keep (the writer saves from there)."""
    from_frontier: bool
    """True when the saved levels were used; False when the whole log was hashed."""


class Frontier:
    """The saved levels of one log's Merkle tree (``log/tree/K``: the full subtrees of 2**K
    leaves, back to back) and ``log/frontier.json`` (how many leaves, the bytes of the log
    they cover, the last line's hash).

    Loading trusts the saved levels only as far as the latest signed checkpoint, and only
    once the tree they make has that checkpoint's root; the leaves after it are hashed again
    from the log's last lines. Every other inner node is checked where it is used: each
    receipt's inclusion proof is verified against the signed root before it is written."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.dir = log_path.parent / TREE_DIR
        self.meta_path = log_path.parent / FRONTIER_FILE

    def level_path(self, k: int) -> Path:
        """The file of level ``k`` (0: the leaves)."""
        return self.dir / str(k)

    def load(self, checkpoint: tuple[int, bytes] | None) -> Loaded:
        """The tree over the whole log: from the saved levels when they agree with the log
        and with ``checkpoint`` (size, root of the latest signed checkpoint), and the lines
        after it; otherwise from every line of the log, and the levels saved again."""
        loaded = self._from_cache(checkpoint)
        if loaded is None:
            loaded = self._from_log()
            self._save(self._rewrite, loaded)
        return loaded

    def _save(self, write: Callable[..., None], *args: Any) -> None:
        """Write the saved tree, a cache: when the disk refuses (full, read-only), forget it
        instead (the next writer hashes the log again); the log itself is what counts."""
        try:
            write(*args)
        except OSError as e:
            if cannot_write(e) is None:
                raise
            try:
                self.discard()
            except OSError:
                pass

    def discard(self) -> None:
        """Forget the saved levels (the next writer hashes the whole log again)."""
        self.meta_path.unlink(missing_ok=True)

    def _read_meta(self) -> tuple[int, int, str] | None:
        try:
            meta = json.loads(self.meta_path.read_bytes())
            return int(meta["size"]), int(meta["log_bytes"]), str(meta["last_hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _read_levels(self, size: int) -> list[bytes] | None:
        levels = []
        for k in range(max(1, size.bit_length())):
            want = (size >> k) * _HASH
            try:
                with open(self.level_path(k), "rb") as f:
                    raw = f.read(want)
            except OSError:
                return None
            if len(raw) != want:
                return None
            levels.append(raw)
        return levels

    def _from_cache(self, checkpoint: tuple[int, bytes] | None) -> Loaded | None:
        meta = self._read_meta()
        if meta is None or checkpoint is None:
            return None  # nothing signed to check the saved levels against
        size, covered, last_hash = meta
        cp_size, cp_root = checkpoint
        if not 1 <= cp_size <= size or covered > self.log_path.stat().st_size:
            return None
        tail = last_lines(self.log_path, 1, end=covered)
        if len(tail) != 1 or custody.line_hash(tail[0]) != last_hash:
            return None
        levels = self._read_levels(size)
        if levels is None:
            return None
        tree = merkle.MerkleTree.from_levels(size, levels)
        tree.truncate(cp_size)
        if tree.root() != cp_root:
            return None
        # The leaves after the checkpoint, hashed again from the log (a few: what was
        # appended since it was signed, and what a crash left after the saved levels).
        for line in last_lines(self.log_path, size - cp_size, end=covered):
            tree.append(line)
        last, end = last_hash, covered
        for line in lines_after(self.log_path, covered):
            tree.append(line)
            last = custody.line_hash(line)
            end += len(line) + 1
        return Loaded(tree, last, end, cp_size, True)

    def _from_log(self) -> Loaded:
        tree = merkle.MerkleTree(merkle.leaf_hash(line) for line in read_log_lines(self.log_path))
        last, covered = custody.GENESIS_PREV, 0
        if tree.size:
            covered = self.log_path.stat().st_size - torn_tail(self.log_path)
            last = custody.line_hash(last_lines(self.log_path, 1, end=covered)[0])
        return Loaded(tree, last, covered, tree.size, False)

    def _rewrite(self, loaded: Loaded) -> None:
        self.dir.mkdir(exist_ok=True)
        for k, level in enumerate(loaded.tree.levels):
            atomic_write(self.level_path(k), level.raw(), durable=False)
        self._write_meta(loaded.tree.size, loaded.log_bytes, loaded.last_hash)

    def extend(
        self, old_size: int, tree: merkle.MerkleTree, log_bytes: int, last_hash: str
    ) -> None:
        """Save the tree's nodes added since it had ``old_size`` leaves (whose nodes the files
        hold), now that the lines they hash are durable in the log."""
        self._save(self._extend, old_size, tree, log_bytes, last_hash)

    def _extend(
        self, old_size: int, tree: merkle.MerkleTree, log_bytes: int, last_hash: str
    ) -> None:
        self.dir.mkdir(exist_ok=True)
        for k, level in enumerate(tree.levels):
            path = self.level_path(k)
            keep = old_size >> k
            with open(path, "r+b" if path.exists() else "wb") as f:
                if f.seek(0, os.SEEK_END) < keep * _HASH:  # a file shorter than it should be
                    f.truncate(0)
                    keep = 0
                f.truncate(keep * _HASH)
                f.seek(keep * _HASH)
                f.write(level.raw(keep))
        self._write_meta(tree.size, log_bytes, last_hash)

    def _write_meta(self, size: int, log_bytes: int, last_hash: str) -> None:
        data = json.dumps({"size": size, "log_bytes": log_bytes, "last_hash": last_hash})
        atomic_write(self.meta_path, data.encode(), durable=False)
