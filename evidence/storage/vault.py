"""Personal data at rest: AES-256-GCM under a key kept in the store's ``keys/``.

Each sealed blob is ``nonce (12 bytes) || ciphertext+tag``; the associated data binds it
to what it belongs to (a case id), so a blob moved to another case does not open.

A large file (a court dossier with its originals embedded) is sealed as a stream:
``MAGIC`` then chunks of at most ``CHUNK`` bytes, each ``length (4 bytes, big-endian) ||
nonce || ciphertext+tag``, each bound to the associated data, its number and whether it is
the last; so a chunk dropped, repeated, moved or cut off at the end does not open.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from base.errors import StoreCorrupt
from evidence.core.keys import write_private

KEY_FILE = "data.aes256"


def data_key(keys_dir: Path) -> bytes:
    """The store's data key, created (0600) the first time it is needed."""
    path = keys_dir / KEY_FILE
    if not path.exists():
        try:
            write_private(path, secrets.token_bytes(32))
        except FileExistsError:  # another process made it first
            pass
    key = path.read_bytes()
    if len(key) != 32:
        raise StoreCorrupt(f"{path} is not a 256-bit key")
    return key


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext``, bound to ``associated``."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, blob: bytes, associated: bytes) -> bytes:
    """Decrypt a sealed blob; raises StoreCorrupt when it was altered or moved."""
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], associated)
    except (InvalidTag, ValueError):
        raise StoreCorrupt(
            "sealed personal data does not open: altered, or not this store's"
        ) from None


MAGIC = b"dalel-sealed-stream/1\n"
CHUNK = 8 << 20


def _chunk_ad(associated: bytes, n: int, last: bool) -> bytes:
    return associated + b"\x00" + struct.pack(">QB", n, 1 if last else 0)


def seal_stream(key: bytes, src: BinaryIO, associated: bytes) -> Iterator[bytes]:
    """Seal what ``src`` holds, chunk by chunk (memory: two chunks); yields the sealed bytes."""
    aes = AESGCM(key)
    yield MAGIC
    n = 0
    chunk = src.read(CHUNK)
    while True:
        following = src.read(CHUNK)
        last = not following
        nonce = os.urandom(12)
        sealed = nonce + aes.encrypt(nonce, chunk, _chunk_ad(associated, n, last))
        yield struct.pack(">I", len(sealed)) + sealed
        if last:
            return
        chunk, n = following, n + 1


def unseal_stream(key: bytes, src: BinaryIO, associated: bytes) -> Iterator[bytes]:
    """The plaintext of a sealed stream, chunk by chunk; raises StoreCorrupt when any part
    was altered, dropped, reordered, cut off or is not this store's."""
    aes = AESGCM(key)
    if src.read(len(MAGIC)) != MAGIC:
        raise StoreCorrupt("a sealed file does not start as one: altered, or not a sealed file")
    n = 0
    head = src.read(4)
    while True:
        if len(head) != 4:
            raise StoreCorrupt("a sealed file is cut short: it ends before its last part")
        (size,) = struct.unpack(">I", head)
        if not 28 <= size <= CHUNK + 28:
            raise StoreCorrupt("a sealed file is damaged: a part has an impossible length")
        sealed = src.read(size)
        head = src.read(4)
        last = not head
        try:
            yield aes.decrypt(sealed[:12], sealed[12:], _chunk_ad(associated, n, last))
        except (InvalidTag, ValueError):
            raise StoreCorrupt(
                "sealed personal data does not open: altered, cut, or not this store's"
            ) from None
        if last:
            return
        n += 1
