"""The custody log as C2SP tlog-tiles: static files anyone can serve and anyone can check.

A tile at level ``L`` and index ``N`` holds up to 256 hashes of the tree's nodes at height
``8·L`` (level 0: the leaf hashes), those at node indices ``256·N`` to ``256·N + 255``, back to
back (32 bytes each). A full tile is at ``tile/L/N`` and never changes; the last, incomplete
tile of a level at ``tile/L/N.p/W`` (``W`` hashes). ``N`` is written in groups of three
digits, each but the last prefixed by ``x``: 1234067 is ``x001/x234/067``. Beside them, the
latest signed checkpoint at ``checkpoint``. Entry bundles are not written: the entries hold
pseudonyms and precinct numbers, and each receipt carries its own entry.

Pure functions over bytes: :func:`tiles_of` makes the tiles of a tree; :class:`TileProofs`
reads hashes back through any ``fetch(path) -> bytes`` (a folder, a web server) to give a
subtree's hash, a root, and an inclusion proof (RFC 9162), checked by the caller against a
signed checkpoint's root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from base.errors import DalelError
from evidence.core import merkle

HEIGHT = 8
"""Tree levels a tile spans."""
WIDTH = 1 << HEIGHT
"""Hashes in a full tile."""
H = merkle.HASH_SIZE


def encode_index(n: int) -> str:
    """``N`` as tlog-tiles paths write it: 5 -> ``005``, 1234067 -> ``x001/x234/067``."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    """The path of a tile (``tile/L/N`` when full, ``tile/L/N.p/W`` when not)."""
    if not 0 < width <= WIDTH:
        raise ValueError(f"a tile holds 1 to {WIDTH} hashes")
    base = f"tile/{level}/{encode_index(index)}"
    return base if width == WIDTH else f"{base}.p/{width}"


def tile_widths(size: int) -> Iterator[tuple[int, int, int]]:
    """(level, index, width) of every tile of a tree of ``size`` leaves."""
    level = 0
    while True:
        count = size >> (HEIGHT * level)  # the full nodes at height 8·level
        if count == 0:
            return
        for index in range((count + WIDTH - 1) // WIDTH):
            yield level, index, min(WIDTH, count - index * WIDTH)
        if count <= 1:
            return
        level += 1


def tiles_of(tree: merkle.MerkleTree, size: int) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every tile of ``tree`` at ``size`` leaves (``size`` <= its size)."""
    if not 0 <= size <= tree.size:
        raise ValueError(f"the tree has {tree.size} leaves, not {size}")
    for level, index, width in tile_widths(size):
        start = index * WIDTH
        raw = tree.levels[HEIGHT * level].raw(start)[: width * H]
        yield tile_path(level, index, width), raw


class TileError(DalelError):
    """A tile is missing, or not the size its path says (a published log that cannot be
    read: what it would prove is undecided)."""


class TileProofs:
    """Hashes of a tree of ``size`` leaves read from its tiles through ``fetch``. Nothing read
    is trusted: compare :meth:`root` with a signed checkpoint's root before using the rest."""

    def __init__(self, fetch: Callable[[str], bytes], size: int) -> None:
        self.fetch = fetch
        self.size = size
        self._tiles: dict[tuple[int, int], bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._tiles:
            count = self.size >> (HEIGHT * level)
            width = min(WIDTH, count - index * WIDTH)
            if width <= 0:
                raise TileError(f"no tile {level}/{index} in a tree of {self.size}")
            path = tile_path(level, index, width)
            data = self.fetch(path)
            if len(data) != width * H:
                raise TileError(f"{path} holds {len(data)} bytes, not {width * H}")
            self._tiles[key] = data
        return self._tiles[key]

    def node(self, height: int, index: int) -> bytes:
        """The hash of the full subtree of ``2**height`` leaves starting at leaf
        ``index * 2**height``."""
        if ((index + 1) << height) > self.size:
            raise TileError(f"node {height}/{index} is not in a tree of {self.size}")
        level, up = divmod(height, HEIGHT)
        first = index << up  # at height 8·level
        tile = self._tile(level, first // WIDTH)
        off = first % WIDTH
        hashes = [tile[i * H : (i + 1) * H] for i in range(off, off + (1 << up))]
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of the leaves ``start`` to ``end - 1`` (RFC 9162 §2.1.1)."""
        n = end - start
        if n <= 0 or end > self.size:
            raise TileError(f"no leaves {start}..{end} in a tree of {self.size}")
        if n & (n - 1) == 0 and start % n == 0:
            return self.node(n.bit_length() - 1, start // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree's first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        return merkle.EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def leaf(self, index: int) -> bytes:
        """Leaf ``index``'s hash."""
        return self.node(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size])."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise TileError(f"no leaf {index} in a tree of {size}")

        def path(m: int, start: int, end: int) -> list[bytes]:
            n = end - start
            if n == 1:
                return []
            k = 1 << ((n - 1).bit_length() - 1)
            if m - start < k:
                return [*path(m, start, start + k), self.subtree(start + k, end)]
            return [*path(m, start + k, end), self.subtree(start, start + k)]

        return path(index, 0, size)
