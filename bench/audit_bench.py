"""What `dalel audit` costs per item, at 1,000, 10,000 and 50,000 items (issue 18).

Each size is a store built as a batch ingest leaves it, only faster: per item a small object,
an ingest entry and its receipt, each item's RFC 3161 token from the store's own TSA (one
``timestamp`` entry per batch of 1,000), a signed and stamped checkpoint per batch, and the
index. Then the audit runs as the auditor runs it, in a process of its own
(``python -m cli --store S audit --json``, full re-hash), and the figures are that process's:
wall time, CPU time and peak RSS (``os.wait4``).

The second opinion (each token verified again by rfc3161-client's verifier) is measured side
by side at 10,000 items: through the CLI's ``--second-opinion`` when it has one, else through
the library (``evidence.audit.run(..., second_opinion=True)``), the two runs then both made
through the library so that they compare.

The objects are small (about 1 KiB): re-hashing photos costs what reading their bytes costs,
whatever the audit's own work, and that is measured by ``store_bench.py``.

    python bench/audit_bench.py [--sizes 1000 10000 50000 200000] [--second-opinion-sizes 10000]

Writes bench/out/audit.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.core import events  # noqa: E402
from evidence.provision import init_store  # noqa: E402
from evidence.storage.store import Store  # noqa: E402
from evidence.timestamping import stamping  # noqa: E402
from pipeline import hooks  # noqa: E402

BATCH = 1000
TARGET_MS = 1.2
"""The issue's target: at most 1.2 ms per item at 50,000 items."""

_LIBRARY_AUDIT = """
import json, sys
from pathlib import Path
from evidence import audit
from evidence.storage.store import Store
report = audit.run(
    audit.StoreSource(Store.open(Path(sys.argv[1]))), second_opinion=sys.argv[2] == "on"
)
print(json.dumps({"ok": report.ok, "tokens": report.tokens, "receipts": report.receipts}))
"""


def build(root: Path, n: int) -> Store:
    """A store of ``n`` receipted, time-stamped items (see the module's docstring)."""
    store = hooks.attach(init_store(root, org="bench"))
    with store.writer() as w:
        for start in range(0, n, BATCH):
            subjects = []
            for i in range(start, min(n, start + BATCH)):
                stored = store.objects.put_bytes(f"bench photo {i}\n".encode() * 64)
                w.append(
                    {
                        "event": events.INGEST,
                        "actor": {"role": "observer", "id": f"obs-{i % 300:04d}"},
                        "item": {
                            "sha256": stored.sha256,
                            "size": stored.size,
                            "media_type": "image/jpeg",
                        },
                        "precinct": str(i % 900),
                        "kind": "protocol",
                        "name": f"IMG_{i:06d}.jpg",
                        "path": f"IMG_{i:06d}.jpg",
                        "metadata": {},
                    }
                )
                subjects.append((stored.sha256, "item"))
            stamping.stamp(w, subjects)
            w.commit()  # signs and stamps the checkpoint, writes the batch's receipts
    return store


_MEASURE = """
import json, os, subprocess, sys, tempfile, time
with tempfile.TemporaryFile() as out:
    t = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    out.seek(0)
    text = out.read().decode()
print(json.dumps({
    "exit": os.waitstatus_to_exitcode(status),
    "wall_s": wall,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "peak_rss_mb": usage.ru_maxrss / 1024,
    "stdout": text,
}))
"""


def _run(cmd: list[str]) -> dict:
    """Run ``cmd`` and return its wall time, CPU time, peak RSS and stdout: the figures of
    that one process (``os.wait4``), started by a small helper process (a child forked from
    this one, which holds the stores it built, would count this one's memory as its own)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _cli_has_second_opinion() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "audit", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return "--second-opinion" in done.stdout


def _figures(run: dict, n: int) -> dict:
    return {
        "items": n,
        "seconds": round(run["wall_s"], 2),
        "items_per_s": round(n / run["wall_s"], 1),
        "ms_per_item": round(run["wall_s"] / n * 1000, 3),
        "cpu_ms_per_item": round(run["cpu_s"] / n * 1000, 3),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


def audit_cli(store: Path, n: int, *, second_opinion: bool = False) -> dict:
    """``dalel --store S audit --json`` (full re-hash) in its own process."""
    cmd = [sys.executable, "-m", "cli", "--store", str(store), "audit", "--json"]
    run = _run(cmd + (["--second-opinion"] if second_opinion else []))
    report = json.loads(run["stdout"])
    if run["exit"] != 0:
        raise SystemExit(f"audit of {n} items did not pass: {report.get('findings', [])[:3]}")
    return {**_figures(run, n), "via": "cli", "tokens": report["tokens"]}


def audit_library(store: Path, n: int, *, second_opinion: bool) -> dict:
    """``evidence.audit.run(StoreSource(store), second_opinion=...)`` in its own process."""
    run = _run(
        [sys.executable, "-c", _LIBRARY_AUDIT, str(store), "on" if second_opinion else "off"]
    )
    result = json.loads(run["stdout"] or "{}")
    if run["exit"] != 0 or not result.get("ok"):
        raise SystemExit(f"library audit of {n} items did not pass (exit {run['exit']})")
    return {**_figures(run, n), "via": "library", "tokens": result["tokens"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    ap.add_argument("--second-opinion-sizes", type=int, nargs="*", default=[10_000])
    ap.add_argument("--work", type=Path, default=None, help="where to build (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the stores built")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="dalel-audit-bench-"))
    cli_flag = _cli_has_second_opinion()
    results: dict = {"cpus": os.cpu_count(), "target_ms_per_item": TARGET_MS, "sizes": {}}
    try:
        for n in sorted(set(args.sizes) | set(args.second_opinion_sizes)):
            path = work / f"store-{n}"
            if not (path / "log").is_dir():
                t = time.perf_counter()
                build(path, n)
                print(f"built {n:,} items in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            row: dict = {}
            if n in args.sizes:
                row["audit"] = audit_cli(path, n)
                print(f"audit of {n:,}: {row['audit']}", file=sys.stderr)
            if n in args.second_opinion_sizes:
                if cli_flag:
                    off = row.get("audit") or audit_cli(path, n)
                    on = audit_cli(path, n, second_opinion=True)
                else:
                    off = audit_library(path, n, second_opinion=False)
                    on = audit_library(path, n, second_opinion=True)
                row["second_opinion"] = {"off": off, "on": on}
                print(f"second opinion at {n:,}: off {off}, on {on}", file=sys.stderr)
            results["sizes"][str(n)] = row
            if not args.keep:
                shutil.rmtree(path, ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    largest = max(args.sizes)
    at = results["sizes"][str(largest)]["audit"]
    results["target_met_at"] = {
        "items": largest,
        "ms_per_item": at["ms_per_item"],
        "met": at["ms_per_item"] <= TARGET_MS,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
        return
    _table(results)


def _table(results: dict) -> None:
    print(
        f"{'items':>9} {'via':>8} {'2nd op.':>8} {'seconds':>9} {'items/s':>9} "
        f"{'ms/item':>9} {'cpu ms/item':>12} {'peak RSS MB':>12}"
    )
    for n, row in results["sizes"].items():
        lines = []
        if "audit" in row:
            lines.append(("off", row["audit"]))
        for which, r in row.get("second_opinion", {}).items():
            if r is not row.get("audit"):
                lines.append((which, r))
        for which, r in lines:
            print(
                f"{int(n):>9,} {r['via']:>8} {which:>8} {r['seconds']:>9.1f} "
                f"{r['items_per_s']:>9.0f} {r['ms_per_item']:>9.3f} "
                f"{r['cpu_ms_per_item']:>12.3f} {r['peak_rss_mb']:>12.1f}"
            )
    t = results["target_met_at"]
    verdict = "met" if t["met"] else "NOT met"
    print(
        f"target <= {results['target_ms_per_item']} ms per item at {t['items']:,} items: "
        f"{verdict} ({t['ms_per_item']} ms)"
    )


if __name__ == "__main__":
    main()
