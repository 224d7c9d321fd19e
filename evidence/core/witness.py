"""C2SP tlog-witness and tlog-cosignature (cosignature/v1, Ed25519): pure functions over bytes.

A witness countersigns a log's checkpoint only when it is consistent with the last one it
saw from that log, so a log cannot show one history to some and another to others, nor go
back to an older one, without the witnesses refusing.

- A cosigner key: name, Ed25519 public key; its key ID is
  ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` and its verifier key (vkey)
  ``name+hex(key ID)+base64(0x04 || public key)``.
- A cosignature is a signed-note line ``— <name> base64(key ID || timestamp || signature)``:
  the timestamp a big-endian u64 (POSIX seconds), the signature Ed25519 over
  ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint's body.
- ``add-checkpoint`` requests: ``old <size>\\n``, the consistency proof's hashes one per line
  in base64, an empty line, then the checkpoint note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.core.checkpoint import EM_DASH

COSIGNATURE_TYPE = b"\x04"
"""The signed-note signature type of timestamped Ed25519 cosignatures."""
HEADER = b"cosignature/v1\n"
MAX_PROOF_LINES = 63
"""At most this many consistency proof lines in a request (tlog-witness)."""
SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""The content type of a 409 answer: the witness's latest size."""


def message(body: bytes, timestamp: int) -> bytes:
    """What a cosigner signs: the header, the time line, the checkpoint's body."""
    return HEADER + f"time {timestamp}\n".encode() + body


@dataclass(frozen=True)
class CosignerKey:
    """A witness's public key, as a log or an auditor pins it."""

    name: str
    raw: bytes

    @property
    def id(self) -> bytes:
        """The 4-byte key ID."""
        return hashlib.sha256(self.name.encode() + b"\n" + COSIGNATURE_TYPE + self.raw).digest()[:4]

    def vkey(self) -> str:
        """The verifier key string."""
        b64 = base64.b64encode(COSIGNATURE_TYPE + self.raw).decode()
        return f"{self.name}+{self.id.hex()}+{b64}"

    @classmethod
    def from_vkey(cls, text: str) -> CosignerKey:
        """Parse ``name+hexid+base64(0x04 || key)``; ValueError when it is not one."""
        try:
            name, hexid, b64 = text.strip().split("+", 2)  # a name has no "+"
            blob = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as e:
            raise ValueError(f"not a verifier key: {e}") from None
        if not name or len(blob) != 33 or blob[:1] != COSIGNATURE_TYPE:
            raise ValueError("not an Ed25519 cosignature (type 0x04) verifier key")
        key = cls(name, blob[1:])
        if key.id.hex() != hexid.lower():
            raise ValueError("the verifier key's ID does not match its key")
        return key

    def verify(self, line: str, body: bytes) -> int | None:
        """The timestamp of ``line`` when it is this key's valid cosignature of ``body``;
        None when it is someone else's line or does not verify."""
        parts = line.rstrip("\n").split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or parts[1] != self.name:
            return None
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            return None
        if len(blob) != 4 + 8 + 64 or blob[:4] != self.id:
            return None
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp >= 1 << 63:
            return None
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(blob[12:], message(body, timestamp))
        except (InvalidSignature, ValueError):
            return None
        return int(timestamp)


@dataclass(frozen=True)
class CosigningKey:
    """A witness's private key."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> CosigningKey:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public(self) -> CosignerKey:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return CosignerKey(self.name, raw)

    def cosign(self, body: bytes, timestamp: int) -> str:
        """The cosignature line (with its newline) over a checkpoint's ``body``."""
        if not 0 < timestamp < 1 << 63:
            raise ValueError("a cosignature's timestamp is a positive 63-bit number")
        sig = self.private.sign(message(body, timestamp))
        blob = self.public.id + struct.pack(">Q", timestamp) + sig
        return f"{EM_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The body of an ``add-checkpoint`` request."""
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError("a consistency proof of more than 63 hashes")
    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    return ("".join(lines) + "\n" + note).encode()


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, proof hashes, checkpoint note) of an ``add-checkpoint`` body; ValueError
    when it is malformed."""
    text = body.decode("utf-8")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("no empty line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old "):
        raise ValueError("the first line is not 'old <size>'")
    size_text = first[4:]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError("the old size is not a decimal number")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise ValueError("more than 63 proof lines")
    try:
        proof = [base64.b64decode(p, validate=True) for p in proof_lines]
    except binascii.Error:
        raise ValueError("a proof line is not base64") from None
    if any(len(h) != 32 for h in proof):
        raise ValueError("a proof line is not a 32-byte hash")
    return int(size_text), proof, note


def cosignature_lines(text: str) -> list[str]:
    """The signature lines of a witness's answer (each starts with an em dash)."""
    return [ln + "\n" for ln in text.split("\n") if ln.startswith(EM_DASH + " ")]
