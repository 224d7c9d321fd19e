"""Personal data at rest: AES-256-GCM under a key kept in the store's ``keys/``.

Each sealed blob is ``nonce (12 bytes) || ciphertext+tag``; the associated data binds it
to what it belongs to (a case id), so a blob moved to another case does not open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
