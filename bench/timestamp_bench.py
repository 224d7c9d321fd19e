"""Benchmark: RFC 3161 tokens for 1,000 digests with the local TSA.

    .venv/bin/python bench/timestamp_bench.py [--items 1000] [--ingest] [--json]

Issue 3 asks that ingest of 1,000 small photos be at most 20% slower with timestamps. This
measures the timestamp side, in the forms the pipeline can use:

- ``single``: ``LocalTSA.timestamp`` once per digest (serials reserved 64 at a time);
- ``single_fsync_each``: the same with ``reserve_block=1`` (one fsynced reservation per token);
- ``batch``: ``LocalTSA.timestamp_batch`` (one key load, one serial reservation);
- ``obtain_single``: ``obtain_timestamp`` per digest with the local source (request, answer,
  full verification of each token);
- ``obtain_batch``: ``obtain_timestamps`` with the local source (batch signing + verification
  of each token);
- ``obtain_batch_verify_first``: the same, verifying the batch's first token in full and reading
  the others back (imprint check);
- ``verify_each_token``: ``verify_token`` on each of the 1,000 tokens (what ``audit`` pays).

With ``--ingest`` it also times ``dalel ingest`` of the same number of small JPEGs (no
timestamps yet, in-process CLI) and prints each form's time as a percentage of it.
Key creation and input generation happen before the clocks start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evidence.timestamping import timestamps
from evidence.timestamping.tsa import LocalTSA, create_local_tsa


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_tsa(base: Path, digests: list[bytes]) -> dict[str, float]:
    """Seconds for each form of stamping ``digests``."""
    create_local_tsa(base / "keys", base / "public", base / "state", "Bench Coalition")

    def load(block: int = 64) -> LocalTSA:
        return LocalTSA.load(base / "keys", base / "public", base / "state", reserve_block=block)

    tsa, tsa_each = load(), load(1)
    tokens = tsa.timestamp_batch(digests)
    source = timestamps.LocalSource(tsa)
    results = {
        "single": _timed(lambda: [tsa.timestamp(d) for d in digests]),
        "single_fsync_each": _timed(lambda: [tsa_each.timestamp(d) for d in digests]),
        "batch": _timed(lambda: tsa.timestamp_batch(digests)),
        "obtain_single": _timed(
            lambda: [timestamps.obtain_timestamp(d, [source]) for d in digests]
        ),
        "obtain_batch": _timed(lambda: timestamps.obtain_timestamps(digests, [source])),
        "obtain_batch_verify_first": _timed(
            lambda: timestamps.obtain_timestamps(digests, [source], verify_local="first")
        ),
        "verify_each_token": _timed(
            lambda: [
                timestamps.verify_token(r, expected_digest=d, trusted_roots=[tsa.root_certificate])
                for d, r in zip(digests, tokens, strict=True)
            ]
        ),
    }
    load_time = _timed(load)
    results["load_tsa"] = load_time
    return results


def bench_ingest(base: Path, count: int) -> float:
    """Seconds for ``dalel ingest`` of ``count`` small JPEGs (64x48) into a fresh store."""
    from PIL import Image

    from cli import main

    inbox = base / "inbox"
    inbox.mkdir()
    for i in range(count):
        Image.new("RGB", (64, 48), (i % 256, (i * 7) % 256, 90)).save(inbox / f"p{i:04}.jpg")
    store = base / "store"
    if main(["--store", str(store), "init", "--org", "Bench"]) != 0:
        raise SystemExit("dalel init failed")
    args = [
        "--store",
        str(store),
        "ingest",
        str(inbox),
        "--observer",
        "870412300416",
        "--precinct",
        "101",
        "--kind",
        "protocol",
        "--json",
    ]
    start = time.perf_counter()
    code = main(args)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"dalel ingest exited {code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--ingest", action="store_true", help="also time dalel ingest")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    digests = [hashlib.sha256(b"photo %d" % i).digest() for i in range(args.items)]
    with tempfile.TemporaryDirectory() as tmp:
        figures: dict[str, float] = bench_tsa(Path(tmp) / "tsa", digests)
        if args.ingest:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                figures["ingest_without_timestamps"] = bench_ingest(Path(tmp), args.items)
    if args.json:
        print(json.dumps({"items": args.items, "seconds": figures}, indent=2))
        return 0
    base = figures.get("ingest_without_timestamps")
    print(f"{args.items} digests, local TSA (ECDSA P-256)")
    for name, seconds in figures.items():
        per = seconds / args.items * 1000
        share = (
            f"  = {seconds / base * 100:5.1f}% of ingest"
            if base and name not in ("ingest_without_timestamps", "load_tsa")
            else ""
        )
        print(f"  {name:<26} {seconds:8.3f} s  ({per:6.3f} ms/item){share}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
