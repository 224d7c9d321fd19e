"""A sealed stream (the court dossier at rest) opens only whole, in order, in its place."""

from __future__ import annotations

import io
import os
import struct

import pytest

from base.errors import StoreCorrupt
from base.fsio import ChunkReader
from evidence.storage import vault

KEY = bytes(range(32))
AD = b"dossier\x00case-0001\x00abc"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(vault, "CHUNK", 1000)


def seal(data: bytes, ad: bytes = AD) -> bytes:
    return ChunkReader(vault.seal_stream(KEY, io.BytesIO(data), ad)).read()


def unseal(blob: bytes, ad: bytes = AD, key: bytes = KEY) -> bytes:
    return b"".join(vault.unseal_stream(key, io.BytesIO(blob), ad))


def parts(blob: bytes) -> list[bytes]:
    """The framed parts after the magic line."""
    out, pos = [], len(vault.MAGIC)
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        out.append(blob[pos : pos + 4 + n])
        pos += 4 + n
    return out


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 3500])
def test_what_is_sealed_opens_unchanged_and_is_not_in_clear(size):
    data = os.urandom(size // 2) + b"IIN 870412300416 " * (size // 34)
    blob = seal(data)
    assert unseal(blob) == data
    assert b"870412300416" not in blob
    assert len(parts(blob)) == max(1, -(-len(data) // 1000))


def test_the_reader_gives_any_sizes_of_reads():
    data = os.urandom(2500)
    reader = ChunkReader(vault.seal_stream(KEY, io.BytesIO(data), AD))
    got = b"".join(iter(lambda: reader.read(7), b""))
    assert unseal(got) == data


def _refused(blob: bytes, **kw) -> str:
    with pytest.raises(StoreCorrupt) as e:
        unseal(blob, **kw)
    return str(e.value)


def test_a_part_dropped_repeated_reordered_or_cut_off_does_not_open():
    data = os.urandom(3500)
    blob = seal(data)
    p = parts(blob)
    m = vault.MAGIC
    assert "does not open" in _refused(m + p[0] + p[2] + p[3])  # one dropped
    assert "does not open" in _refused(m + p[0] + p[1] + p[1] + p[2] + p[3])  # repeated
    assert "does not open" in _refused(m + p[1] + p[0] + p[2] + p[3])  # reordered
    assert "does not open" in _refused(m + p[0] + p[1] + p[2])  # the last one cut off
    assert "cut short" in _refused(m + p[0] + p[1][:3])  # cut inside a part's length
    assert "cut short" in _refused(m)
    assert "does not open" in _refused(blob + b"\x00\x00")  # bytes after the last part
    assert "impossible length" in _refused(m + b"\xff\xff\xff\xff" + p[0][4:])
    flipped = bytearray(blob)
    flipped[len(m) + 40] ^= 1
    assert "does not open" in _refused(bytes(flipped))
    assert "does not start" in _refused(b"%PDF-1.7 not sealed")


def test_it_opens_only_for_its_case_and_hash_and_this_store():
    blob = seal(b"court dossier")
    assert "does not open" in _refused(blob, ad=b"dossier\x00case-0002\x00abc")
    assert "does not open" in _refused(blob, key=bytes(32))
