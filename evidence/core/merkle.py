"""RFC 9162 §2.1 Merkle tree: hashes, inclusion and consistency proofs.

Pure functions over bytes. The tree keeps every full power-of-two subtree hash, so
that appending is amortised O(1) and any proof costs O(log² n) hash operations at most,
without re-reading the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Level:
    """One level of a tree: its hashes back to back in one buffer, so that a whole level is
    loaded or saved as bytes, without a Python object per hash."""

    __slots__ = ("buf",)

    def __init__(self, data: bytes | bytearray = b"") -> None:
        if len(data) % HASH_SIZE:
            raise ValueError("a level holds whole 32-byte hashes")
        self.buf = bytearray(data)

    def __len__(self) -> int:
        return len(self.buf) // HASH_SIZE

    def __getitem__(self, index: int) -> bytes:
        n = len(self.buf) // HASH_SIZE
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"no hash {index} in a level of {n}")
        return bytes(self.buf[index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Level) and self.buf == other.buf

    __hash__ = None  # type: ignore[assignment]  # mutable

    def append(self, h: bytes) -> None:
        """Add one hash at the end."""
        if len(h) != HASH_SIZE:
            raise ValueError("a hash is 32 bytes")
        self.buf += h

    def raw(self, start: int = 0) -> bytes:
        """The hashes from ``start`` on, back to back."""
        return bytes(self.buf[start * HASH_SIZE :])

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` hashes."""
        del self.buf[count * HASH_SIZE :]


def _levels_of(size: int) -> int:
    """How many levels a tree of ``size`` leaves has (the leaves are level 0)."""
    return max(1, size.bit_length())


class MerkleTree:
    """An append-only Merkle tree over leaf hashes.

    ``levels[k][i]`` is the hash of the full subtree of 2**k leaves starting at leaf i * 2**k.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = list(leaf_hashes)
        self.levels: list[Level] = [Level(b"".join(leaves))]
        # Every full subtree, a level at a time (what append_hash would build one by one).
        level = leaves
        while len(level) >= 2:
            sha = hashlib.sha256
            level = [
                sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
            ]
            self.levels.append(Level(b"".join(level)))

    @classmethod
    def from_levels(cls, size: int, levels: Sequence[bytes]) -> MerkleTree:
        """A tree of ``size`` leaves from its saved levels (``levels[k]``: the full subtrees
        of 2**k leaves, back to back), without hashing anything. Only their shape is checked:
        the caller checks their content (against a signed root)."""
        if len(levels) != _levels_of(size) or any(
            len(raw) != (size >> k) * HASH_SIZE for k, raw in enumerate(levels)
        ):
            raise ValueError(f"these levels are not those of a tree of {size} leaves")
        tree = cls()
        tree.levels = [Level(raw) for raw in levels]
        return tree

    def truncate(self, size: int) -> None:
        """Keep the first ``size`` leaves (the tree as it was at that size)."""
        if not 0 <= size <= self.size:
            raise ValueError(f"tree has {self.size} leaves, asked for {size}")
        del self.levels[_levels_of(size) :]
        for k, level in enumerate(self.levels):
            level.truncate(size >> k)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Append a leaf by its data; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        """Append a leaf by its leaf hash; returns its index."""
        index = len(self.levels[0])
        self.levels[0].append(h)
        k = 0
        while len(self.levels[k]) % 2 == 0:
            level = self.levels[k]
            parent = node_hash(level[-2], level[-1])
            if len(self.levels) == k + 1:
                self.levels.append(Level())
            self.levels[k + 1].append(parent)
            k += 1
        return index

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self.levels[0][index]

    def _range_hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range produced by the RFC's recursive split."""
        n = hi - lo
        if n == 1:
            return self.levels[0][lo]
        if n & (n - 1) == 0:
            k = n.bit_length() - 1
            return self.levels[k][lo >> k]
        k = _split(n)
        return node_hash(self._range_hash(lo, lo + k), self._range_hash(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size < 0 or size > self.size:
            raise ValueError(f"tree has {self.size} leaves, asked for {size}")
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) as in RFC 9162 §2.1.3.1."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"no leaf {index} in a tree of {size}")
        proof: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                proof.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._range_hash(lo, lo + k))
                lo, m = lo + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) as in RFC 9162 §2.1.4.1."""
        new_size = self.size if new_size is None else new_size
        if not 0 < old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from {old_size} to {new_size}")
        proof: list[bytes] = []
        lo, hi, m, complete = 0, new_size, old_size, True
        while True:
            n = hi - lo
            if m == n:
                if not complete:
                    proof.append(self._range_hash(lo, hi))
                break
            k = _split(n)
            if m <= k:
                proof.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._range_hash(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        proof.reverse()
        return proof


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes PATH(index, D[0:size]) holds, computed without hashing."""
    length, lo, hi, m = 0, 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            hi = lo + k
        else:
            lo, m = lo + k, m - k
        length += 1
    return length


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if len(proof) != inclusion_proof_length(index, size):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of ``new_size`` extends the old one?"""
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size < 1 or old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
