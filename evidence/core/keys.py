"""Ed25519 keys for the custody log, and their C2SP signed-note identities.

A signed-note key ID is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key)
(0x01 is the Ed25519 signature type); the verifier key is written
``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from base.fsio import atomic_write

ED25519_TYPE = b"\x01"


def key_id(name: str, public_raw: bytes) -> bytes:
    """The 4-byte signed-note key ID."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_raw).digest()[:4]


@dataclass(frozen=True)
class PublicKey:
    """A named Ed25519 public key, as an auditor pins it."""

    name: str
    raw: bytes

    @property
    def id(self) -> bytes:
        """Signed-note key ID (4 bytes)."""
        return key_id(self.name, self.raw)

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    def verifier(self) -> str:
        """The signed-note verifier key string."""
        b64 = base64.b64encode(ED25519_TYPE + self.raw).decode()
        return f"{self.name}+{self.id_hex}+{b64}"

    @classmethod
    def from_verifier(cls, text: str) -> PublicKey:
        """Parse ``name+hexid+base64`` and check the ID matches."""
        try:
            name, hexid, b64 = text.strip().split("+", 2)
            blob = base64.b64decode(b64, validate=True)
        except ValueError as e:
            raise ValueError(f"not a signed-note verifier key: {e}") from None
        if len(blob) != 33 or blob[:1] != ED25519_TYPE:
            raise ValueError("verifier key is not an Ed25519 key")
        key = cls(name, blob[1:])
        if key.id_hex != hexid.lower():
            raise ValueError("verifier key ID does not match its key")
        return key

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A named Ed25519 private key."""

    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return PublicKey(self.name, raw)

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message``."""
        return self.private.sign(message)

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(name, Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(name, key)


def public_pem(raw: bytes) -> bytes:
    """PEM (SubjectPublicKeyInfo) of a raw Ed25519 public key, for openssl users."""
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600), atomically; never over an
    existing one (a key is created once)."""
    if path.exists():
        raise FileExistsError(path)
    atomic_write(path, data, mode=0o600)
