"""The receipts a commit owes: one per receipted entry, written once its checkpoint is signed.

``receipts/SEQ.json`` holds the entry's line, its inclusion proof in the checkpoint's tree, the
signed checkpoint and, when the item has a time-stamp token, the token with the roots that
verify it offline. ``receipts/.upto`` marks how far receipts are complete, so that the next
writer finishes what a crash left owed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from base.errors import StoreCorrupt, cannot_write
from base.fsio import atomic_write, sync_filesystem
from evidence.core import checkpoint as cp
from evidence.core import events, merkle, receipts
from evidence.storage.writer import Commit, Writer
from evidence.timestamping import stamping

MARK = ".upto"


class ReceiptHook:
    """A commit hook writing the receipts owed for entries of the ``receipted`` kinds."""

    def __init__(self, receipted: Iterable[str] = events.RECEIPTED) -> None:
        self.receipted = frozenset(receipted)
        self._roots_pem: dict[str, bytes] = {}

    def on_open(self, writer: Writer) -> None:
        """Nothing to do until a commit."""

    def on_commit(self, writer: Writer, commit: Commit) -> None:
        """Receipts for every receipted entry from the last complete mark up to the head."""
        if commit.head is not None:
            commit.receipts.update(self._write_owed(writer, commit.head))

    def _write_owed(self, writer: Writer, head: cp.SignedCheckpoint) -> dict[int, Path]:
        store = writer.store
        mark_path = store.receipts_dir / MARK
        try:
            upto = int(mark_path.read_text())
        except (FileNotFoundError, ValueError):
            upto = 0
        if upto >= head.checkpoint.size:
            return {}
        stamped = stamping.has_tsa(store)
        stamps = _tokens_in_memory(writer)
        owed = [
            (seq, line, entry)
            for seq, line, entry in writer.entries(upto, head.checkpoint.size)
            if entry.get("event") in self.receipted
        ]
        if stamped:  # tokens recorded by an earlier writer (after a crash)
            missing = [e["item"]["sha256"] for _, _, e in owed if e["item"]["sha256"] not in stamps]
            if missing:
                stamps.update(store.index.first_tokens(missing))
        written: dict[int, Path] = {}
        pubkey = store.log_key.public
        try:
            for seq, line, entry in owed:
                path = store.receipts_dir / f"{seq:08d}.json"
                if not path.exists():
                    receipt = receipts.build(line, entry, seq, writer.tree, head, pubkey)
                    _check_inclusion(writer, seq, line, receipt, head)
                    stamp = stamps.get(entry["item"]["sha256"])
                    if stamp is not None:
                        receipt["timestamp"] = self._timestamp(writer, stamp)
                    atomic_write(path, receipts.dumps(receipt), durable=False)
                written[seq] = path
            if written:
                sync_filesystem(store.root)
            atomic_write(mark_path, str(head.checkpoint.size).encode())
        except OSError as e:
            if cannot_write(e) is None:
                raise
            # The disk refuses (full): the receipts written so far stand; the mark is not
            # moved, so the next writer writes the rest (owed receipts are never lost).
            return {seq: p for seq, p in written.items() if p.exists()}
        return written

    def _timestamp(self, writer: Writer, stamp: dict[str, Any]) -> dict[str, Any]:
        """The item's token, with what verifies it offline (the root is to be pinned)."""
        store = writer.store
        token = store.objects.read(stamp["token_sha256"])
        pem = self._roots_pem.get(stamp["source"])
        if pem is None:
            pem = b"".join(
                c.public_bytes(serialization.Encoding.PEM)
                for c in stamping.roots_for(store.public_dir, stamp["source"])
            )
            self._roots_pem[stamp["source"]] = pem
        return {
            "token": base64.b64encode(token).decode(),
            "source": stamp["source"],
            "kind": stamp["kind"],
            "gen_time": stamp["gen_time"],
            "recorded_at": stamp["time"],
            "entry_seq": stamp["seq"],
            "tsa_roots_pem": pem.decode(),
        }


def _check_inclusion(
    writer: Writer, seq: int, line: bytes, receipt: dict[str, Any], head: cp.SignedCheckpoint
) -> None:
    """Verify the receipt's proof against the signed root before anyone holds it: the
    writer's tree comes from saved files, and a wrong node must never reach an observer."""
    proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
    if not merkle.verify_inclusion(
        seq, head.checkpoint.size, merkle.leaf_hash(line), proof, head.checkpoint.root
    ):
        writer.forget_saved_tree()
        raise StoreCorrupt(
            f"the receipt for entry {seq} does not prove its inclusion: the saved Merkle tree "
            "disagrees with the log",
            fix="run the command again: the tree is rebuilt from the log, and the receipt "
            "written then",
        )


def _tokens_in_memory(writer: Writer) -> dict[str, dict[str, Any]]:
    """Item tokens recorded in entries this commit holds, by the hash they cover."""
    out: dict[str, dict[str, Any]] = {}
    for a in writer.committed:
        if a.entry.get("event") == events.TIMESTAMP:
            for t in a.entry.get("tokens", []):
                out.setdefault(t["subject"], {**t, "seq": a.seq, "time": a.entry["time"]})
    return out
