"""Append cost against the size of the log: 1,000 entries and 100,000, side by side.

Two figures per log size, measured in one run:

- **append in an open writer**: a writer that stays open (a server, a long batch) appends one
  ingest entry and commits it (log fsync, a signed checkpoint, its receipt, the checkpoint's
  RFC 3161 token from the local TSA, the index), many times over; the cost per entry must not
  grow with the log.
- **one-shot writer**: open a writer, append one entry, commit, close (what one `dalel ingest`
  of one file pays), with the tree saved beside the log, and with it discarded before each
  open (the writer then hashes the whole log, as every writer did before).

    python bench/append_bench.py [--sizes 1000 100000] [--rounds 200] [--json]

Writes bench/out/append.json and prints a table; the README quotes it.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.core import events  # noqa: E402
from evidence.provision import init_store  # noqa: E402
from evidence.storage import log as logfile  # noqa: E402
from evidence.storage.store import Store  # noqa: E402
from pipeline import hooks  # noqa: E402


def _ingest(store: Store, i: int) -> dict:
    stored = store.objects.put_bytes(f"bench photo {i} {time.perf_counter_ns()}".encode())
    return {
        "event": events.INGEST,
        "actor": {"role": "observer", "id": "obs-bench"},
        "item": {"sha256": stored.sha256, "size": stored.size, "media_type": "image/jpeg"},
        "name": f"{i}.jpg",
        "path": f"{i}.jpg",
        "precinct": "1",
        "kind": "protocol",
        "metadata": {},
    }


def build(root: Path, n: int) -> Store:
    """A store whose log holds ``n`` entries (case-evidence entries: no receipts owed), with
    its index caught up and its tree saved."""
    store = init_store(root, org="bench")
    bare = Store.open(root)
    with bare.writer() as w:
        for i in range(n):
            w.append({"event": events.CASE_EVIDENCE, "case": "case-0001", "subject": f"{i:064x}"})
            if i % 10_000 == 9_999:
                w.commit()
    store = hooks.open_store(root)
    writer = store.writer().open()  # its hooks catch the index up
    writer.commit()  # and stamp the checkpoint
    writer.close()
    return store


def per_append_open_writer(store: Store, rounds: int) -> list[float]:
    """Seconds per append+commit in a writer that stays open."""
    out = []
    w = store.writer().open()
    try:
        for i in range(rounds):
            entry = _ingest(store, i)
            t = time.perf_counter()
            w.append(entry)
            w.commit()
            out.append(time.perf_counter() - t)
    finally:
        w.close()
    return out


def one_shot(store: Store, rounds: int, *, saved_tree: bool) -> list[float]:
    """Seconds for open + one append + commit + close, with or without the saved tree."""
    out = []
    for i in range(rounds):
        entry = _ingest(store, 10_000 + i)
        if not saved_tree:
            logfile.Frontier(store.log_path).discard()
        t = time.perf_counter()
        with store.writer() as w:
            w.append(entry)
        out.append(time.perf_counter() - t)
    return out


def _ms(xs: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(xs) * 1000, 3),
        "min_ms": round(min(xs) * 1000, 3),
        "max_ms": round(max(xs) * 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--one-shot-rounds", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: dict = {"cpus": os.cpu_count(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="dalel-append-") as tmp:
        stores = {}
        for n in args.sizes:
            t = time.perf_counter()
            stores[n] = build(Path(tmp) / f"log-{n}", n)
            print(f"built a log of {n} entries in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        # Side by side: the sizes alternate, so drift of the machine hits both alike.
        open_w: dict[int, list[float]] = {n: [] for n in args.sizes}
        shot: dict[int, list[float]] = {n: [] for n in args.sizes}
        replay: dict[int, list[float]] = {n: [] for n in args.sizes}
        for _ in range(4):
            for n in args.sizes:
                open_w[n] += per_append_open_writer(stores[n], args.rounds // 4)
                shot[n] += one_shot(stores[n], max(1, args.one_shot_rounds // 4), saved_tree=True)
                replay[n] += one_shot(
                    stores[n], max(1, args.one_shot_rounds // 4), saved_tree=False
                )
        for n in args.sizes:
            results["sizes"][n] = {
                "append_in_open_writer": _ms(open_w[n]),
                "one_shot_with_saved_tree": _ms(shot[n]),
                "one_shot_replaying_the_log": _ms(replay[n]),
            }
    lo, hi = min(args.sizes), max(args.sizes)
    med = {
        k: {n: results["sizes"][n][k]["median_ms"] for n in args.sizes}
        for k in results["sizes"][lo]
    }
    results["ratio_largest_to_smallest"] = {k: round(v[hi] / v[lo], 3) for k, v in med.items()}
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "append.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'median ms per entry':34}" + "".join(f"{n:>12,}" for n in args.sizes) + f"{'ratio':>9}"
    )
    for k, v in med.items():
        print(
            f"{k:34}"
            + "".join(f"{v[n]:>12.2f}" for n in args.sizes)
            + f"{results['ratio_largest_to_smallest'][k]:>9.2f}"
        )


if __name__ == "__main__":
    main()
