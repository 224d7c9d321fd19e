"""The log's tiles written to a folder (C2SP tlog-tiles, :mod:`evidence.core.tiles`): by
``dalel log tiles --out DIR``, and, when the config names a folder (``[log] tiles_dir``), by a
commit hook after every commit, from the writer's tree in memory (no log re-read): only the
tiles a commit changed are written (the last, partial tile of each level, and a tile that
became full), then the checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from base.errors import UsageError
from base.fsio import atomic_write
from evidence.core import checkpoint as cp
from evidence.core import merkle, tiles
from evidence.storage.store import Store

if TYPE_CHECKING:
    from evidence.storage.writer import Commit, Writer

CONFIG_KEY = "tiles_dir"
"""``[log] tiles_dir`` in config.toml: a folder (absolute, or relative to the store) the
writer keeps up to date after every commit."""


@dataclass(frozen=True)
class Written:
    """What one publication wrote."""

    size: int
    written: int
    kept: int


def write(
    tree: merkle.MerkleTree,
    head: cp.SignedCheckpoint,
    out: Path,
    *,
    since: int = 0,
    keep_newer: bool = False,
) -> Written:
    """Write the tiles of ``tree`` at the size of ``head`` into ``out`` (only those that may
    differ from a publication at size ``since``: 0 writes or checks them all), then the
    checkpoint. A full tile already there with other bytes is refused: the folder holds
    another log, or this log was rewritten."""
    size = head.checkpoint.size
    if tree.size < size:
        raise UsageError("the log is shorter than its latest checkpoint", fix="run dalel audit")
    written = kept = 0
    for level, index, width in tiles.tile_widths(size):
        full_before = (since >> (tiles.HEIGHT * level)) // tiles.WIDTH
        if index < full_before:
            continue  # full at the last publication: never changes
        path = tiles.tile_path(level, index, width)
        start = index * tiles.WIDTH
        data = tree.levels[tiles.HEIGHT * level].raw(start)[: width * tiles.H]
        dest = out / path
        if dest.exists():
            if dest.read_bytes() == data:
                kept += width == tiles.WIDTH
                continue
            if width == tiles.WIDTH:
                raise UsageError(
                    f"{dest} holds another tile than this log's",
                    fix="publish into an empty folder, or the one this store published to",
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, durable=width == tiles.WIDTH)  # a full tile is final
        written += 1
    out.mkdir(parents=True, exist_ok=True)
    if keep_newer and _held_size(out, head) > size:
        return Written(size, written, kept)  # a writer published a newer one meanwhile
    atomic_write(out / "checkpoint", head.text.encode())
    return Written(size, written, kept)


def _held_size(out: Path, head: cp.SignedCheckpoint) -> int:
    """The size of the checkpoint the folder holds, when it is this log's (same origin)."""
    try:
        held = cp.parse((out / "checkpoint").read_text())
    except (OSError, ValueError):
        return 0
    return held.checkpoint.size if held.checkpoint.origin == head.checkpoint.origin else 0


def configured(store: Store) -> Path | None:
    """The folder the config asks the writer to keep up to date, if any."""
    value = store.config.raw.get("log", {}).get(CONFIG_KEY)
    if not value:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else store.root / path


class TilesHook:
    """A commit hook: after every commit that signed a checkpoint, the folder gets the tiles
    it changed and the new checkpoint. A disk that refuses is the commit's problem no more:
    the next commit (or ``dalel log tiles``) catches up."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._since = 0

    def on_open(self, writer: Writer) -> None:
        # what the folder already holds: its checkpoint's size, if it is this log's
        try:
            held = cp.parse((self.out / "checkpoint").read_text())
            mine = held.signed_by(writer.store.public_key())
            self._since = held.checkpoint.size if mine else 0
        except (OSError, ValueError):
            self._since = 0

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        head = commit.head
        if head is None or head.checkpoint.size <= self._since:
            return
        try:
            write(writer.tree, head, self.out, since=self._since)
        except (OSError, UsageError) as e:  # the folder falls behind; the log is what matters
            logging.getLogger("dalel").warning("the log's tiles in %s: %s", self.out, e)
            return
        self._since = head.checkpoint.size
