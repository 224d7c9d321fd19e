"""Benchmark of the evidence core (issue: "Evidence core", Speed).

1. Ingest of ~1 GB of photos and videos: our hashing throughput against `sha256sum` on the
   same files, side by side in one run (warm cache for both), and the whole ingest's.
2. A log of 100,000 entries: append rate, inclusion and consistency proof times, `audit`
   without re-hashing objects, peak RSS.

    python bench/store_bench.py [--gb 1.0] [--entries 100000] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence import audit  # noqa: E402
from evidence.core import merkle  # noqa: E402
from evidence.provision import init_store  # noqa: E402
from evidence.storage.objects import sha256_stream  # noqa: E402
from evidence.storage.store import Store  # noqa: E402
from pipeline import hooks  # noqa: E402
from pipeline.run import run_batch  # noqa: E402
from pipeline.stages import Submission  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_media(folder: Path, total_bytes: int) -> list[Path]:
    """Noise JPEGs (~3 MB each) and a few MP4s until ``total_bytes``."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    files: list[Path] = []
    size = 0
    videos = 0
    i = 0
    while size < total_bytes:
        if i % 40 == 39:
            p = folder / f"clip-{videos:03d}.mp4"
            subprocess.run(
                [
                    "ffmpeg",
                    "-loglevel",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=1280x720:rate=25:duration=8",
                    "-f",
                    "lavfi",
                    "-i",
                    "anoisesrc=d=8",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-b:v",
                    "20M",
                    "-shortest",
                    "-metadata",
                    "creation_time=2026-11-15T18:00:00Z",
                    str(p),
                ],
                check=True,
            )
            videos += 1
        else:
            p = folder / f"photo-{i:04d}.jpg"
            arr = rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
            Image.fromarray(arr).save(p, quality=92)
        files.append(p)
        size += p.stat().st_size
        i += 1
    return files


def bench_hashing(work: Path, gb: float) -> dict:
    media = work / "media"
    files = make_media(media, int(gb * 1024**3))
    total = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache for both contenders
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass
    t = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
    t_sum = time.perf_counter() - t
    t = time.perf_counter()
    for p in files:
        with open(p, "rb") as f:
            sha256_stream(f)
    t_hash = time.perf_counter() - t
    scratch = init_store(work / "scratch", org="bench")
    t = time.perf_counter()
    for p in files:  # hash while streaming into the object store (copy + hash)
        with open(p, "rb") as f:
            scratch.objects.put_stream(f)
    t_store = time.perf_counter() - t
    store = init_store(work / "store", org="bench")
    t = time.perf_counter()
    batch = run_batch(
        store, [media], Submission(Path("."), "", "obs-bench", "1", "other"), dedupe=False
    )
    t_ingest = time.perf_counter() - t
    assert len(batch.receipts) == len(files)
    mb = total / 1024**2
    return {
        "files": len(files),
        "megabytes": round(mb, 1),
        "sha256sum_MBps": round(mb / t_sum, 1),
        "dalel_hash_MBps": round(mb / t_hash, 1),
        "hash_ratio_vs_sha256sum": round(t_sum / t_hash, 3),
        "dalel_hash_and_store_MBps": round(mb / t_store, 1),
        "hash_and_store_ratio_vs_sha256sum": round(t_sum / t_store, 3),
        "dalel_ingest_MBps": round(mb / t_ingest, 1),
        "ingest_ratio_vs_sha256sum": round(t_sum / t_ingest, 3),
        "ingest_seconds": round(t_ingest, 2),
    }


def bench_log(work: Path, n: int) -> dict:
    """The log itself (issue 2's figures): entries without timestamp tokens, in a store whose
    TSA certificate is removed so that audit treats it as made before timestamps; what
    verifying tokens adds is measured by ``bench_token_audit``."""
    store = init_store(work / "logstore", org="bench")
    (store.public_dir / "tsa-root.pem").unlink()
    hooks.attach(store)
    rng = random.Random(1)
    t = time.perf_counter()
    objects = [store.objects.put_bytes(f"object {i}".encode()) for i in range(n)]
    t_objects = time.perf_counter() - t
    t = time.perf_counter()
    with store.writer() as w:
        for i, stored in enumerate(objects):
            w.append(
                {
                    "event": "ingest",
                    "actor": {"role": "observer", "id": f"obs-{i % 300:020d}"},
                    "item": {
                        "sha256": stored.sha256,
                        "size": stored.size,
                        "media_type": "image/jpeg",
                    },
                    "precinct": str(i % 900),
                    "kind": "protocol",
                    "channel": "bench",
                    "name": f"IMG_{i:06d}.jpg",
                    "path": f"IMG_{i:06d}.jpg",
                    "note": "",
                    "metadata": {
                        "fields": {
                            "received_at": {
                                "value": "2026-11-21T10:00:00Z",
                                "source": "dalel-clock",
                            }
                        },
                        "flags": [],
                    },
                }
            )
            if i % 1000 == 999:
                w.commit()
    t_append = time.perf_counter() - t
    tree = store.load_tree()
    size = tree.size
    root = tree.root()
    incl, cons = [], []
    for _ in range(1000):
        i = rng.randrange(size)
        t = time.perf_counter()
        proof = tree.inclusion_proof(i, size)
        ok = merkle.verify_inclusion(i, size, tree.leaf(i), proof, root)
        incl.append(time.perf_counter() - t)
        assert ok
        m = rng.randrange(1, size)
        t = time.perf_counter()
        proof = tree.consistency_proof(m, size)
        ok = merkle.verify_consistency(m, size, tree.root(m), root, proof)
        cons.append(time.perf_counter() - t)
        assert ok
    t = time.perf_counter()
    report = audit.run(audit.StoreSource(store, rehash=False))
    t_audit = time.perf_counter() - t
    assert report.ok, report.failures[:3]
    return {
        "entries": size,
        "object_puts_per_s": round(n / t_objects),
        "append_entries_per_s": round(n / t_append),
        "append_seconds": round(t_append, 1),
        "inclusion_proof_ms_median": round(statistics.median(incl) * 1000, 3),
        "inclusion_proof_ms_max": round(max(incl) * 1000, 3),
        "consistency_proof_ms_median": round(statistics.median(cons) * 1000, 3),
        "consistency_proof_ms_max": round(max(cons) * 1000, 3),
        "audit_no_rehash_seconds": round(t_audit, 1),
        "receipts": report.receipts,
    }


def bench_timestamps(work: Path, n: int = 1000, rounds: int = 5) -> dict:
    """Ingest of ``n`` small photos with the local TSA against without timestamps.

    Same files, fresh store each time, rounds alternated; the median of each is compared.
    Without timestamps means no timestamp stage and no checkpoint stamping.
    """
    from PIL import Image

    from pipeline.stamp import TimestampStage

    photos = work / "small"
    photos.mkdir()
    for i in range(n):
        Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 99)).save(photos / f"p{i:04d}.jpg")
    times: dict[str, list[float]] = {"without": [], "with": []}
    for r in range(rounds):
        for label in ("without", "with") if r % 2 == 0 else ("with", "without"):
            store = init_store(work / f"ts-{label}-{r}", org="bench")
            stages = (TimestampStage(),) if label == "with" else ()
            stamp = label == "with"
            os.sync()  # each round starts with nothing left to flush by an earlier one
            t = time.perf_counter()
            _run_with(store, photos, stages, stamp)
            times[label].append(time.perf_counter() - t)
    without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
    return {
        "photos": n,
        "seconds_without_timestamps": round(without, 2),
        "seconds_with_local_tsa": round(with_, 2),
        "slowdown_percent": round((with_ / without - 1) * 100, 1),
        "all_runs": {k: [round(x, 2) for x in v] for k, v in times.items()},
    }


def _run_with(store: Store, folder: Path, stages: tuple, stamp_checkpoints: bool) -> None:
    from evidence.timestamping.stamping import CheckpointStampHook
    from pipeline import hooks

    hooks.attach(store)
    if not stamp_checkpoints:
        store.hooks = [h for h in store.hooks if not isinstance(h, CheckpointStampHook)]
    run_batch(
        store,
        [folder],
        Submission(Path("."), "", "obs-bench", "1", "protocol"),
        dedupe=False,
        stages=stages,
    )


def bench_token_audit(work: Path, n: int = 2000) -> dict:
    """Audit of a store of ``n`` stamped items, with and without verifying the tokens."""
    from evidence.timestamping import stamping

    store = hooks.attach(init_store(work / "tokstore", org="bench"))
    with store.writer() as w:
        shas = []
        for i in range(n):
            stored = store.objects.put_bytes(f"stamped object {i}".encode())
            w.append(
                {
                    "event": "ingest",
                    "actor": {"role": "observer", "id": "obs-b"},
                    "item": {
                        "sha256": stored.sha256,
                        "size": stored.size,
                        "media_type": "text/plain",
                    },
                    "precinct": "1",
                    "kind": "other",
                    "name": f"{i}.txt",
                    "path": f"{i}.txt",
                    "metadata": {},
                }
            )
            shas.append((stored.sha256, "item"))
        stamping.stamp(w, shas)
    t = time.perf_counter()
    report = audit.run(audit.StoreSource(store, rehash=False))
    with_tokens = time.perf_counter() - t
    assert report.ok and report.tokens >= n, report.failures[:3]
    (store.public_dir / "tsa-root.pem").rename(store.public_dir / "tsa-root.off")
    t = time.perf_counter()
    audit.run(audit.StoreSource(store, rehash=False))
    without = time.perf_counter() - t
    return {
        "items": n,
        "audit_seconds_with_token_checks": round(with_tokens, 2),
        "audit_seconds_without": round(without, 2),
        "ms_per_token": round((with_tokens - without) / report.tokens * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--skip-hashing", action="store_true")
    ap.add_argument("--only-timestamps", action="store_true")
    ap.add_argument("--only-log", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dalel-bench-", dir=os.environ.get("TMPDIR")))
    results: dict = {}
    try:
        if not args.only_log:
            results["timestamps"] = bench_timestamps(work)
            print(json.dumps(results["timestamps"], indent=2), flush=True)
            results["token_audit"] = bench_token_audit(work)
            print(json.dumps(results["token_audit"], indent=2), flush=True)
        if args.only_timestamps:
            return
        if not args.skip_hashing and not args.only_log:
            results["hashing"] = bench_hashing(work, args.gb)
            print(json.dumps(results["hashing"], indent=2), flush=True)
        results["log"] = bench_log(work, args.entries)
        results["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(json.dumps({**results["log"], "peak_rss_mb": results["peak_rss_mb"]}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store_bench.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
