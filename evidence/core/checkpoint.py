"""Checkpoints (signed tree heads) in the C2SP tlog-checkpoint format, as signed notes.

A checkpoint body is three lines: the log's origin, the tree size in decimal and the root
hash in base64, each ending in a newline. The signed note appends a blank line and one
signature line per signer: ``— <key name> <base64(key id || signature)>``. Pure functions.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass

from evidence.core.keys import PublicKey, SigningKey

EM_DASH = "\u2014"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log, how many leaves, and their Merkle root."""

    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        """The exact bytes that are signed."""
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n".encode()


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the signature lines of its note, and the note's exact text."""

    checkpoint: Checkpoint
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)
    text: str

    def signed_by(self, key: PublicKey) -> bool:
        """True when one signature line is ``key``'s valid signature of the body."""
        body = self.checkpoint.body()
        return any(
            name == key.name and kid == key.id and key.verify(sig, body)
            for name, kid, sig in self.signatures
        )


def sign(checkpoint: Checkpoint, key: SigningKey) -> str:
    """The signed note text for ``checkpoint``."""
    body = checkpoint.body()
    sig = base64.b64encode(key.public.id + key.sign(body)).decode()
    return body.decode() + f"\n{EM_DASH} {key.name} {sig}\n"


def parse(text: str) -> SignedCheckpoint:
    """Parse a signed checkpoint note. Raises ValueError on malformed input."""
    if isinstance(text, str):
        return _parse_note(text)
    return _parse(text)  # (not text: refused as the text would be, never cached)


@functools.lru_cache(maxsize=256)
def _parse_note(text: str) -> SignedCheckpoint:
    """:func:`_parse`, cached: the receipts of a batch carry the same checkpoint (the value
    is immutable; a note that does not parse raises again, never cached)."""
    return _parse(text)


def _parse(text: str) -> SignedCheckpoint:
    if "\n\n" not in text:
        raise ValueError("no blank line between checkpoint body and signatures")
    body, _, sigs = text.partition("\n\n")
    lines = body.split("\n")
    if len(lines) < 3:
        raise ValueError("checkpoint body has fewer than three lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise ValueError("empty origin")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ValueError(f"tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise ValueError("root hash is not base64") from None
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    signatures = []
    sig_lines = sigs.split("\n")
    if sig_lines[-1] != "":
        raise ValueError("signed note does not end with a newline")
    for line in sig_lines[:-1]:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH:
            raise ValueError(f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise ValueError("signature is not base64") from None
        if len(blob) < 5:
            raise ValueError("signature too short")
        signatures.append((parts[1], blob[:4], blob[4:]))
    if not signatures:
        raise ValueError("checkpoint has no signature")
    # Extension lines (after the root) are part of the signed body; keep them signed.
    cp = Checkpoint(origin, int(size_text), root)
    if body + "\n" != cp.body().decode():
        raise ValueError("checkpoint has extension lines this version does not read")
    return SignedCheckpoint(cp, tuple(signatures), text)
