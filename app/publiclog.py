"""The log as the public reads it: the latest signed checkpoint, the key, and proofs.

What an observer's phone or any auditor needs to check a receipt against the log's latest
state (the receipt-check page, ``dalel receipt verify``): the signed note of the latest
checkpoint, the log's verifier key, inclusion and consistency proofs (RFC 9162, hashes in
base64 as receipts hold them). Proofs are only given within the latest signed checkpoint:
nothing unsigned is vouched for.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from base.errors import UsageError
from evidence.core import merkle
from evidence.storage import log as logfile
from evidence.storage.store import Store


class PublicLog:
    """A reader of one store's log that keeps its Merkle tree in memory and reads only
    the lines appended since (one per server process)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tree = merkle.MerkleTree()
        self._bytes = 0
        self._lock = threading.Lock()

    def _refresh(self) -> merkle.MerkleTree:
        with self._lock:
            for line in logfile.lines_after(self.store.log_path, self._bytes):
                self._tree.append(line)
                self._bytes += len(line) + 1
            return self._tree

    def checkpoint(self) -> str:
        """The latest signed checkpoint (a C2SP signed note); UsageError while the log is
        empty."""
        paths = self.store.checkpoint_paths()
        if not paths:
            raise UsageError("the log has no checkpoint yet", fix="hand in a file first")
        return paths[-1].read_text()

    def key(self) -> str:
        """The log's verifier key (signed-note format), as ``public/log.pub`` holds it."""
        return (self.store.public_dir / "log.pub").read_text()

    def _signed_size(self) -> int:
        head = self.store.latest_checkpoint()
        return head.checkpoint.size if head else 0

    def _check_size(self, size: int) -> merkle.MerkleTree:
        signed = self._signed_size()
        if not 1 <= size <= signed:
            raise UsageError(
                f"size must be between 1 and {signed}, the latest signed checkpoint's size",
                fix="ask for a size a signed checkpoint has",
            )
        tree = self._refresh()
        if tree.size < signed:
            raise UsageError("the log is shorter than its checkpoint", fix="run dalel audit")
        return tree

    def inclusion(self, index: int, size: int) -> dict[str, Any]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        tree = self._check_size(size)
        if not 0 <= index < size:
            raise UsageError(f"index must be between 0 and {size - 1}", fix="check the receipt")
        hashes = tree.inclusion_proof(index, size)
        return {"index": index, "size": size, "hashes": [_b64(h) for h in hashes]}

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        """The consistency proof from the tree of ``old`` leaves to the one of ``new``."""
        tree = self._check_size(new)
        if not 1 <= old <= new:
            raise UsageError(f"from must be between 1 and {new}", fix="check the receipt")
        hashes = tree.consistency_proof(old, new)
        return {"from": old, "to": new, "hashes": [_b64(h) for h in hashes]}


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
