"""How fast a command starts: `dalel --help` and `dalel receipt verify`, side by side with
`python -c pass` and, optionally, with the same commands of an earlier commit.

Each command is a whole process, started in turn with the others (A B C A B C ...) so that a
machine's drift touches them alike; the figure is the median wall time of the runs. Target:
`dalel --help` and `dalel receipt verify` at most 0.25 s.

    python bench/startup_bench.py [--runs 21] [--before REV] [--json]

``--before REV`` checks REV out into a temporary worktree and times its commands too (with
this checkout's virtualenv), for a before/after ratio in the same run. Writes
bench/out/startup.json.

The commands run with Python's bytecode cache, as an installed dalel does (the first, untimed
round writes it): in a cache folder of the run's own (``PYTHONPYCACHEPREFIX``), so that no
checkout gets ``__pycache__`` folders, and even where ``PYTHONDONTWRITEBYTECODE`` is set.
``--no-bytecode-cache`` times them compiling every module from source at every start (what
``PYTHONDONTWRITEBYTECODE`` alone gives), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.25


ENV = dict(os.environ)
"""The environment the timed commands run in (see the module's docstring)."""


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env=ENV)
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return took


def make_store(work: Path) -> tuple[Path, Path]:
    """A store with one ingested photo; its receipt."""
    from PIL import Image

    store = work / "store"
    photo = work / "protocol.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    py = [sys.executable, "-m", "cli", "--store", str(store)]
    subprocess.run([*py, "init"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*py, "ingest", str(photo), "--observer", "obs-1", "--precinct", "1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return store, sorted((store / "receipts").glob("*.json"))[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--before", help="an earlier commit to time side by side")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module at every start (PYTHONDONTWRITEBYTECODE), for comparison",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dalel-startup-") as tmp:
        work = Path(tmp)
        if args.no_bytecode_cache:
            ENV["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        store, receipt = make_store(work)
        py = sys.executable
        checkouts = {"now": ROOT}
        if args.before:
            before = work / "before"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(before), args.before],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            checkouts["before"] = before
        commands: dict[str, tuple[list[str], Path]] = {"python -c pass": ([py, "-c", "pass"], ROOT)}
        for label, where in checkouts.items():
            commands[f"dalel --help ({label})"] = ([py, "-m", "cli", "--help"], where)
            commands[f"dalel receipt verify --store ({label})"] = (
                [py, "-m", "cli", "receipt", "verify", str(receipt), "--store", str(store)],
                where,
            )
            commands[f"dalel receipt verify --key ({label})"] = (
                [
                    py,
                    "-m",
                    "cli",
                    "receipt",
                    "verify",
                    str(receipt),
                    "--key",
                    str(store / "public" / "log.pub"),
                    "--tsa-root",
                    str(store / "public" / "tsa-root.pem"),
                ],
                where,
            )
        try:
            for cmd, where in commands.values():  # warm the page cache and .pyc files
                timed(cmd, where)
            times: dict[str, list[float]] = {k: [] for k in commands}
            for _ in range(args.runs):
                for label, (cmd, where) in commands.items():
                    times[label].append(timed(cmd, where))
        finally:
            if args.before:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(work / "before")],
                    cwd=ROOT,
                    check=False,
                    capture_output=True,
                )
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["python -c pass"]
    result = {
        "runs": args.runs,
        "before": args.before,
        "bytecode_cache": not args.no_bytecode_cache,
        "target_s": TARGET_S,
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        "spread_s": {k: [round(min(v), 3), round(max(v), 3)] for k, v in times.items()},
        "over_python": {k: round(v / base, 1) for k, v in medians.items()},
    }
    if args.before:
        result["now_over_before"] = {
            k.replace(" (now)", ""): round(v / medians[k.replace("(now)", "(before)")], 2)
            for k, v in medians.items()
            if k.endswith("(now)")
        }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("bytecode cache: " + ("off" if args.no_bytecode_cache else "on"))
        for k, v in medians.items():
            lo, hi = result["spread_s"][k]
            flag = "" if "dalel" not in k or "(before)" in k or v <= TARGET_S else "  over target"
            print(f"{k:45} {v * 1000:7.0f} ms  ({lo * 1000:.0f}-{hi * 1000:.0f}){flag}")
        for k, r in result.get("now_over_before", {}).items():
            print(f"{k:45} now/before {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
