"""C2SP tlog-tiles of the custody log's tree: paths as the spec writes them, every tile of a
tree, and hashes, roots and inclusion proofs read back from the tiles alone equal to those of
the tree (RFC 9162), whatever the size."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.core import merkle, tiles


def _tree(n: int) -> merkle.MerkleTree:
    return merkle.MerkleTree(merkle.leaf_hash(f"entry {i}".encode()) for i in range(n))


def test_paths_are_written_as_the_spec_writes_them() -> None:
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(5) == "005"
    assert tiles.encode_index(1000) == "x001/000"
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 3, 17) == "tile/1/003.p/17"
    with pytest.raises(ValueError):
        tiles.tile_path(0, 0, 0)
    with pytest.raises(ValueError):
        tiles.tile_path(0, 0, 257)


def test_the_tiles_of_a_tree_are_its_levels_256_hashes_at_a_time() -> None:
    tree = _tree(70_000)
    made = dict(tiles.tiles_of(tree, 70_000))
    # level 0: 273 full tiles of leaves and one of 112; level 1: one of 273 nodes of 256
    # leaves is a full tile and a partial of 17; level 2: a partial of 1 (65,536 leaves)
    assert len([p for p in made if p.startswith("tile/0/")]) == 274
    assert made["tile/0/273.p/112"] == tree.levels[0].raw(273 * 256)
    assert made["tile/0/000"] == tree.levels[0].raw()[: 256 * 32]
    assert made["tile/1/000"] == tree.levels[8].raw()[: 256 * 32]
    assert made["tile/1/001.p/17"] == tree.levels[8].raw(256)
    assert made["tile/2/000.p/1"] == tree.levels[16].raw()
    assert set(made) == {tiles.tile_path(*w) for w in tiles.tile_widths(70_000)}
    assert list(tiles.tiles_of(_tree(0), 0)) == []
    assert [p for p, _ in tiles.tiles_of(tree, 1)] == ["tile/0/000.p/1"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_roots_and_proofs_from_the_tiles_equal_the_trees(size: int, data) -> None:
    tree = _tree(size)
    files = dict(tiles.tiles_of(tree, size))
    read = tiles.TileProofs(lambda p: files[p], size)
    assert read.root() == tree.root(size)
    old = data.draw(st.integers(1, size))
    assert read.root(old) == tree.root(old)
    index = data.draw(st.integers(0, size - 1))
    assert read.leaf(index) == tree.leaf(index)
    proof = read.inclusion_proof(index)
    assert proof == tree.inclusion_proof(index, size)
    assert merkle.verify_inclusion(index, size, tree.leaf(index), proof, tree.root(size))


def test_a_missing_short_or_changed_tile_is_found() -> None:
    tree = _tree(600)
    files = dict(tiles.tiles_of(tree, 600))
    with pytest.raises(tiles.TileError, match="bytes"):
        tiles.TileProofs(lambda p: files[p][:-1], 600).root()
    with pytest.raises(KeyError):
        tiles.TileProofs(lambda p: {}[p], 600).root()
    changed = dict(files)
    raw = bytearray(changed["tile/0/001"])
    raw[5] ^= 1
    changed["tile/0/001"] = bytes(raw)
    # a changed byte in a leaf tile: the proof it gives does not lead to the signed root
    forged = tiles.TileProofs(lambda p: changed[p], 600)
    leaf = forged.leaf(300)
    assert not merkle.verify_inclusion(300, 600, leaf, forged.inclusion_proof(300), tree.root())
    assert forged.leaf(256) != tree.leaf(256)  # (the hash changed)
    with pytest.raises(tiles.TileError):
        tiles.TileProofs(lambda p: files[p], 600).inclusion_proof(600)
    assert hashlib.sha256(b"").digest() == tiles.TileProofs(lambda p: files[p], 600).root(0)
