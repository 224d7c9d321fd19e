"""Attacks a red team runs on a store, as someone who can write to it (and so holds its keys).

``resign`` is the full rewrite: change one entry, sign every entry again with a fresh log key,
sign every checkpoint again, stamp the new checkpoints with the store's own TSA (its key is in
the store too), rebuild every receipt and replace ``public/log.pub``. Nothing in the store
then disagrees with anything else: only a key or a checkpoint kept outside can tell.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evidence.core import checkpoint as cp
from evidence.core import custody, events, merkle, receipts, tokens
from evidence.core.keys import SigningKey, public_pem
from evidence.storage.store import LOG_KEY_FILE, Store
from evidence.timestamping import stamping
from evidence.timestamping.tsa import LocalTSA


def _first_ingest(entry: dict[str, Any]) -> dict[str, Any]:
    entry = json.loads(json.dumps(entry))
    entry["note"] = "rewritten by the attacker"
    return entry


def resign(
    store_dir: Path,
    change: Callable[[dict[str, Any]], dict[str, Any]] = _first_ingest,
    *,
    same_key: bool = False,
) -> SigningKey:
    """Rewrite the store's whole history under a fresh key (see the module), or under its own
    key with ``same_key`` (a fork only witnesses and kept checkpoints can tell); ``change`` is
    applied to the first receipted entry. Returns the key."""
    store = Store.open(store_dir)
    origin = store.config.origin
    key = store.log_key if same_key else SigningKey.generate(origin)
    tsa = LocalTSA.load(store.keys_dir, store.public_dir, store_dir / stamping.TSA_STATE_DIR)
    old_sizes = {int(p.stem) for p in store.checkpoint_paths()}
    old_receipts = {int(p.stem): json.loads(p.read_bytes()) for p in store.receipt_paths()}
    old_notes = {
        stamping.checkpoint_digest(p.read_text()): int(p.stem) for p in store.checkpoint_paths()
    }

    tree = merkle.MerkleTree()
    prev = custody.GENESIS_PREV
    lines: list[bytes] = []
    notes: dict[int, str] = {}
    tsr: dict[int, bytes] = {}
    changed = False
    for line in store.log_lines():
        entry = dict(custody.parse_line(line).entry)
        if not changed and entry.get("event") in events.RECEIPTED:
            entry, changed = change(entry), True
        if entry.get("event") == events.TIMESTAMP:
            entry = _restamp(entry, old_notes, notes, tsa, store, tsr)
        entry["prev"] = prev
        new = custody.make_line(entry, key)
        lines.append(new)
        tree.append(new)
        prev = custody.line_hash(new)
        if tree.size in old_sizes:
            notes[tree.size] = cp.sign(cp.Checkpoint(origin, tree.size, tree.root()), key)

    store.log_path.write_bytes(b"".join(ln + b"\n" for ln in lines))
    for p in [*store.checkpoints_dir.glob("*.note"), *store.checkpoints_dir.glob("*.tsr")]:
        p.unlink()
    for size, text in notes.items():
        (store.checkpoints_dir / f"{size:012d}.note").write_text(text)
        if size in tsr:
            (store.checkpoints_dir / f"{size:012d}.tsr").write_bytes(tsr[size])
    for seq, old in old_receipts.items():
        head = cp.parse(next(t for s, t in sorted(notes.items()) if s > seq))
        entry = custody.parse_line(lines[seq]).entry
        receipt = receipts.build(lines[seq], entry, seq, tree, head, key.public)
        if "timestamp" in old:
            receipt["timestamp"] = old["timestamp"]
        (store.receipts_dir / f"{seq:08d}.json").write_bytes(receipts.dumps(receipt))
    (store.public_dir / "log.pub").write_text(key.public.verifier() + "\n")
    (store.public_dir / "log.pem").write_bytes(public_pem(key.public.raw))
    if not same_key:
        (store.keys_dir / LOG_KEY_FILE).unlink()
        (store.keys_dir / LOG_KEY_FILE).write_bytes(key.private_pem())
    shutil.rmtree(store.log_path.parent / "tree", ignore_errors=True)
    (store.log_path.parent / "frontier.json").unlink(missing_ok=True)
    store.index_path.unlink(missing_ok=True)
    return key


def _restamp(
    entry: dict[str, Any],
    old_notes: dict[str, int],
    notes: dict[int, str],
    tsa: LocalTSA,
    store: Store,
    tsr: dict[int, bytes],
) -> dict[str, Any]:
    """A timestamp entry whose checkpoint tokens cover the re-signed checkpoints."""
    entry = json.loads(json.dumps(entry))
    for t, o in zip(entry["tokens"], entry["objects"], strict=True):
        if t.get("target") != "checkpoint":
            continue
        size = old_notes[t["subject"]]
        digest = stamping.checkpoint_digest(notes[size])
        response = tsa.timestamp(bytes.fromhex(digest))
        token = tokens.token_from_response(response)
        stored = store.objects.put_bytes(token)
        t["subject"], t["token_sha256"] = digest, stored.sha256
        o["sha256"], o["parent"] = stored.sha256, digest
        tsr[size] = tokens.response_from_token(token)
    return entry


def keep(path: Path, tmp: Path, name: str) -> Path:
    """A copy of ``path`` kept outside the store (as an auditor or observer would)."""
    out = tmp / "kept" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, out)
    return out
