"""What publishing the log as C2SP tlog-tiles costs (issue 17).

    python bench/tiles_bench.py [--entries 500000] [--batch 500] [--json]

A Merkle tree of ``--entries`` leaves (hashes of synthetic entry lines; the tree is built as
the writer keeps it) is published into an empty folder as ``dalel log tiles`` does, then the
log grows by ``--batch`` entries at a time and each commit's publication (the ``--follow``
hook: only the tiles a commit changed, then the checkpoint) is timed over 20 commits. Then
receipts are checked from the tiles alone (a consistency proof from a size 1,000 entries back
and an inclusion proof, read through the folder), as a client of a CDN would. Prints the
figures with the machine; writes bench/out/tiles.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from evidence.core import checkpoint as cp
    from evidence.core import merkle, tiles
    from evidence.core.keys import SigningKey
    from evidence.storage import tiles_out

    key = SigningKey.generate("bench.dalel.kz/tiles")
    t = time.perf_counter()
    tree = merkle.MerkleTree(
        merkle.leaf_hash(b'{"event":"ingest","seq":%d}' % i) for i in range(args.entries)
    )
    built = time.perf_counter() - t

    def head() -> cp.SignedCheckpoint:
        return cp.parse(cp.sign(cp.Checkpoint(key.name, tree.size, tree.root()), key))

    out: dict[str, Any] = {"entries": args.entries, "batch": args.batch,
                           "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
                           "tree_built_s": round(built, 2)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiles"
        t = time.perf_counter()
        done = tiles_out.write(tree, head(), folder)
        out["full_publication_s"] = round(time.perf_counter() - t, 2)
        out["tiles"] = done.written
        out["bytes"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        commits = []
        for _ in range(20):
            since = tree.size
            for i in range(args.batch):
                tree.append(b'{"event":"ingest","seq":%d}' % (since + i))
            h = head()
            t = time.perf_counter()
            w = tiles_out.write(tree, h, folder, since=since)
            commits.append((time.perf_counter() - t) * 1000)
            assert w.written >= 1
        out["per_commit_ms"] = {"median": round(statistics.median(commits), 2),
                                "max": round(max(commits), 2)}  # fmt: skip
        size = tree.size

        def fetch(path: str) -> bytes:
            return (folder / path).read_bytes()

        t = time.perf_counter()
        reads = 0
        for k in range(50):
            proofs = tiles.TileProofs(fetch, size)
            assert proofs.root() == tree.root()
            index = (k * 9973) % size
            proof = proofs.inclusion_proof(index)
            assert merkle.verify_inclusion(index, size, tree.leaf(index), proof, tree.root())
            reads += len(proofs._tiles)
        out["receipt_check_from_tiles_ms"] = round((time.perf_counter() - t) * 1000 / 50, 2)
        out["tiles_read_per_check"] = round(reads / 50, 1)
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "tiles.json").write_text(json.dumps(out, indent=1))
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k:28} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
