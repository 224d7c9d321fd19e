"""The audit's shortcuts give the answers of the long way: a receipt's nesting, a checkpoint
note read once per batch, the bare token found without asn1crypto."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.core import checkpoint as cp
from evidence.core import receipts, tokens
from evidence.core.keys import SigningKey
from evidence.core.tokenverdicts import _raw_token
from tests.evidence.test_timestamps import memory_tsa, sha, token_for


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (the definition, recursive)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=40,
)


@given(JSON)
def test_too_deep_is_the_depth_against_the_limit(value):
    for limit in (0, 1, 2, 3, 5):
        assert receipts._too_deep(value, limit) == (_depth(value) > limit)


def test_too_deep_at_the_receipt_limit():
    def nest(n: int) -> Any:
        value: Any = "leaf"
        for i in range(n):
            value = [value] if i % 2 else {"k": value}
        return value

    assert not receipts._too_deep(nest(receipts.MAX_DEPTH))
    assert receipts._too_deep(nest(receipts.MAX_DEPTH + 1))
    assert not receipts._too_deep("a string") and not receipts._too_deep(7)


def test_a_checkpoint_note_is_read_once_and_a_bad_one_refused_each_time():
    key = SigningKey.generate("dalel.kz/test")
    note = cp.sign(cp.Checkpoint("dalel.kz/test", 5, b"\x01" * 32), key)
    first = cp.parse(note)
    assert cp.parse(note) is first  # the receipts of a batch share the value
    assert first == cp._parse(note) and first.signed_by(key.public)
    for bad in (note.replace("\n5\n", "\n05\n"), note[:-1], note.replace("\n\n", "\n")):
        for _ in range(2):
            with pytest.raises(ValueError):
                cp.parse(bad)
    for not_text in (["a list"], {"a": "dict"}, 5):
        with pytest.raises((ValueError, TypeError)) as caught:
            cp._parse(not_text)  # type: ignore[arg-type]
        with pytest.raises(type(caught.value), match=str(caught.value)[:20] or None):
            cp.parse(not_text)  # type: ignore[arg-type]


def test_the_bare_token_is_found_as_asn1crypto_finds_it():
    tsa = memory_tsa()
    token = token_for(tsa, b"x")
    response = tsa.timestamp(sha(b"x"))
    for data in (token, response, tokens.response_from_token(token)):
        assert _raw_token(data) == tokens._split(data)[0]
    for i in range(0, len(response), 3):
        flipped = bytearray(response)
        flipped[i] ^= 0x01
        try:
            expected: Any = tokens._split(bytes(flipped))[0]
        except Exception:
            expected = "refused"
        try:
            got: Any = _raw_token(bytes(flipped))
        except Exception:
            got = "refused"
        if expected != "refused":
            assert got == expected, i
    for junk in (b"", b"junk", b"\x30\x00", b"\x30\x03\x06\x01\x00"):
        with pytest.raises(Exception):  # noqa: B017 - whatever asn1crypto raises
            _raw_token(junk)
