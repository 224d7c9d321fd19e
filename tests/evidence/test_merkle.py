"""The Merkle tree against a direct transcription of RFC 9162 §2.1."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.core import merkle


# --- RFC 9162 §2.1, transcribed literally (recursive, slow, obviously right) -------------
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + rfc_mth(d[:k]) + rfc_mth(d[k:])).digest()


def rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return rfc_path(m, d[:k]) + [rfc_mth(d[k:])]
    return rfc_path(m - k, d[k:]) + [rfc_mth(d[:k])]


def rfc_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [rfc_mth(d)]
    k = _k(n)
    if m <= k:
        return rfc_subproof(m, d[:k], b) + [rfc_mth(d[k:])]
    return rfc_subproof(m - k, d[k:], False) + [rfc_mth(d[:k])]


def rfc_proof(m: int, d: list[bytes]) -> list[bytes]:
    return rfc_subproof(m, d, True)


def leaves(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def tree(n: int) -> merkle.MerkleTree:
    t = merkle.MerkleTree()
    for x in leaves(n):
        t.append(x)
    return t


# --- exhaustive over small sizes ---------------------------------------------------------
def test_roots_match_rfc_for_every_size_up_to_300():
    t = merkle.MerkleTree()
    data = leaves(300)
    assert t.root() == rfc_mth([])
    for n in range(1, 301):
        t.append(data[n - 1])
        assert t.root() == rfc_mth(data[:n]), n


def test_every_inclusion_proof_matches_rfc_and_verifies_up_to_70():
    data = leaves(70)
    t = tree(70)
    for n in range(1, 71):
        root = rfc_mth(data[:n])
        for m in range(n):
            proof = t.inclusion_proof(m, n)
            assert proof == rfc_path(m, data[:n])
            assert merkle.verify_inclusion(m, n, merkle.leaf_hash(data[m]), proof, root)


def test_every_consistency_proof_matches_rfc_and_verifies_up_to_70():
    data = leaves(70)
    t = tree(70)
    for n in range(1, 71):
        new_root = rfc_mth(data[:n])
        for m in range(1, n + 1):
            proof = t.consistency_proof(m, n)
            assert proof == rfc_proof(m, data[:n])
            assert merkle.verify_consistency(m, n, rfc_mth(data[:m]), new_root, proof)


# --- property tests up to a few hundred leaves -------------------------------------------
sizes = st.integers(min_value=1, max_value=400)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=sizes)
def test_inclusion_fails_on_any_flipped_byte_or_wrong_index(data, n):
    t = tree(n)
    m = data.draw(st.integers(0, n - 1))
    proof = t.inclusion_proof(m, n)
    root = t.root(n)
    leaf = t.leaf(m)
    assert proof == rfc_path(m, leaves(n))
    assert merkle.verify_inclusion(m, n, leaf, proof, root)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        j = data.draw(st.integers(0, 31))
        bad = list(proof)
        bad[i] = bad[i][:j] + bytes([bad[i][j] ^ 0x01]) + bad[i][j + 1 :]
        assert not merkle.verify_inclusion(m, n, leaf, bad, root)
        assert not merkle.verify_inclusion(m, n, leaf, proof[:-1], root)
        assert not merkle.verify_inclusion(m, n, leaf, proof + [proof[0]], root)
    j = data.draw(st.integers(0, 31))
    bad_leaf = leaf[:j] + bytes([leaf[j] ^ 0x80]) + leaf[j + 1 :]
    assert not merkle.verify_inclusion(m, n, bad_leaf, proof, root)
    bad_root = root[:j] + bytes([root[j] ^ 0x80]) + root[j + 1 :]
    assert not merkle.verify_inclusion(m, n, leaf, proof, bad_root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda x: x != m))
        assert not merkle.verify_inclusion(other, n, leaf, proof, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=sizes)
def test_consistency_fails_on_any_flipped_byte_or_wrong_size(data, n):
    t = tree(n)
    m = data.draw(st.integers(1, n))
    proof = t.consistency_proof(m, n)
    old_root, new_root = t.root(m), t.root(n)
    assert proof == rfc_proof(m, leaves(n))
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        j = data.draw(st.integers(0, 31))
        bad = list(proof)
        bad[i] = bad[i][:j] + bytes([bad[i][j] ^ 0x01]) + bad[i][j + 1 :]
        assert not merkle.verify_consistency(m, n, old_root, new_root, bad)
    flipped = bytes([old_root[0] ^ 1]) + old_root[1:]
    assert not merkle.verify_consistency(m, n, flipped, new_root, proof)
    flipped = bytes([new_root[0] ^ 1]) + new_root[1:]
    assert not merkle.verify_consistency(m, n, old_root, flipped, proof)
    if m < n:
        assert not merkle.verify_consistency(m + 1, n, old_root, new_root, proof)
    if m > 1:
        assert not merkle.verify_consistency(m - 1, n, old_root, new_root, proof)


def test_proof_arguments_out_of_range_are_refused():
    t = tree(5)
    for bad in [(-1, 5), (5, 5), (0, 6)]:
        try:
            t.inclusion_proof(*bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
    assert not merkle.verify_inclusion(0, 0, t.leaf(0), [], t.root())
    assert not merkle.verify_consistency(0, 5, t.root(), t.root(), [])


def test_a_tree_built_at_once_equals_one_built_leaf_by_leaf():
    """A writer loads the tree from its persisted leaves in one go; every subtree must be
    the one appending the leaves one at a time gives, and appending must go on from it."""
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(70)]
    for n in range(len(leaves)):
        at_once = merkle.MerkleTree(leaves[:n])
        one_by_one = merkle.MerkleTree()
        for h in leaves[:n]:
            one_by_one.append_hash(h)
        assert at_once.levels == one_by_one.levels
        at_once.append_hash(leaves[n])
        one_by_one.append_hash(leaves[n])
        assert at_once.levels == one_by_one.levels
        assert at_once.root() == one_by_one.root()
