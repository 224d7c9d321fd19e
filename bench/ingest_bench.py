"""Issue 18 ("Fast at the limit"): `dalel ingest` of 1 GiB, and one file into a big store.

1. **Ingest of ~1 GiB of photos and videos** (noisy ~5 MiB JPEGs, each unique, and three
   H.264 videos), through the real CLI (`dalel init`, then `dalel ingest FOLDER`), timed as a
   whole process, side by side in the same run and alternating with

   - a durable copy of the same files: ``cp -r FOLDER DEST && sync -f DEST``;
   - ``openssl dgst -sha256`` over the same files.

   With ``--before REV``, the ingest of that earlier commit (its files, this Python) runs as a
   fourth contender in the same rounds. All read warm files: each runs once untimed first,
   the page cache is not dropped, and every file is read again just before each contender
   (the kernel here takes back pages left cold for a minute). The commands run with
   Python's bytecode cache, as an installed dalel does (the untimed first round writes it),
   in a folder of the run's own (``PYTHONPYCACHEPREFIX``) even where
   ``PYTHONDONTWRITEBYTECODE`` is set (as ``bench/startup_bench.py`` does: without it every
   module is compiled at every start).
   Every round uses a fresh store and a fresh copy destination, deleted after each contender
   with ``sync``, and the file system is left ``--settle`` seconds (61) before the next
   contender, so that none creates its files among inodes ext4 has just freed (see
   :data:`SETTLE`). Figures: median wall seconds, MiB/s, the throughput
   ratios ingest/copy (copy_seconds / ingest_seconds, target at least 0.6) and ingest/openssl
   (openssl_seconds / ingest_seconds, target at least 0.5), ingest's CPU seconds (user +
   system of the child processes) per GiB, and the load average before each round.

2. **One file into a big store**: ``dalel ingest ONE_PHOTO`` as a whole process (what a
   script that hands in one file per call pays) into a store of 1,000 entries against one of
   50,000, alternating A B A B, a different photo each time; target: median 50k / 1k at most
   1.2. The stores are built in this process through the real pipeline (the store's writer,
   small photos handed in as streams and committed in batches, with their receipts, tokens
   and index), and the big one is audited once (``dalel audit --no-rehash``, untimed) after
   the timed ingests.

    python bench/ingest_bench.py [--rounds 5] [--size-gib 1.0] [--big 50000]
        [--before REV] [--settle 61] [--skip-ingest] [--skip-one-file] [--json]

Writes bench/out/ingest.json and prints a table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serve_bench import photos  # noqa: E402  (bench/ is this script's own folder)

DALEL = [sys.executable, "-m", "cli"]
#: The environment of every command: Python's bytecode cache on, in the run's own folder.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MIB = 1024**2
GIB = 1024**3
PHOTO_MIB = 5.0
VIDEOS = 3
INGEST = ("--observer", "obs-bench", "--precinct", "1")
TARGET_COPY = 0.6
TARGET_OPENSSL = 0.5
TARGET_BIG = 1.2


# --- files ---------------------------------------------------------------------------------
def video(path: Path, seconds: float) -> Path:
    """A 1080p H.264 test-pattern video of ``seconds`` (ultrafast, CRF 10: ~3.6 MB/s)."""
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=30",
            "-t",
            f"{seconds:.2f}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "10",
            str(path),
        ],
        check=True,
    )
    return path


def media(folder: Path, size_gib: float) -> list[Path]:
    """About ``size_gib`` GiB: ~187 photos of 5 MiB per GiB, the rest in three videos (their
    length from a one-second probe of the encoder's rate)."""
    total = size_gib * GIB
    files = photos(folder, max(1, round(total * 0.913 / (PHOTO_MIB * MIB))), PHOTO_MIB, "photo")
    left = total - sum(p.stat().st_size for p in files)
    probe = video(folder.parent / "probe.mp4", 1.0)
    rate = probe.stat().st_size
    probe.unlink()
    for i in range(VIDEOS):
        files.append(video(folder / f"clip-{i}.mp4", max(1.0, left / VIDEOS / rate)))
    return files


# --- processes -----------------------------------------------------------------------------
def dalel(*args: object, where: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the CLI from the repository (or the checkout ``where``); exit on failure."""
    p = subprocess.run(
        [*DALEL, *map(str, args)], cwd=where, capture_output=True, text=True, env=ENV
    )
    if p.returncode != 0:
        raise SystemExit(f"dalel {args[2:4]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def timed(cmd: Sequence[object], where: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the children) of one process, run from
    the repository (or ``where``) with its output discarded; everything earlier is synced
    first."""
    os.sync()  # nothing an earlier round left to flush is paid by this one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(
        list(map(str, cmd)),
        cwd=where,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{list(cmd)[:4]} failed ({p.returncode}): {p.stderr[-2000:]!r}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.sync()


#: Seconds to wait after deleting a contender's store or copy, before the next contender
#: runs (``--settle``). On an ext4 without a journal (this machine's), a new file is not given
#: an inode freed in the last 60 s (300 while its table is unwritten): ext4 looks up each
#: such inode it passes over, so that every file created just after ~1,000 were deleted pays
#: for them (``recently_deleted`` was 5-7 % of an ingest's CPU in ``perf``), a cost no real
#: ingest pays. (Deleting only after each round instead made the contenders after the first
#: write into memory this virtual machine had handed back, 2.4 s for the copy against 0.7.)
SETTLE = 61.0


def settle(path: Path) -> None:
    """Delete ``path``, sync, and wait :data:`SETTLE` seconds."""
    remove(path)
    time.sleep(SETTLE)


def warm(files: Sequence[Path]) -> None:
    """Read every file once, untimed, just before a contender runs: this machine's kernel
    reclaims page cache it finds cold (DAMON: 3 % of the files' pages in 20 idle seconds),
    and what it took back during :data:`SETTLE` was read again from the disk by whichever
    contender came next."""
    buf = bytearray(8 << 20)
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


# --- 1. ingest of 1 GiB --------------------------------------------------------------------
def checkout(rev: str, where: Path) -> Path:
    """The files of commit ``rev`` in ``where`` (``git archive``: no worktree is added)."""
    where.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def bench_ingest(work: Path, size_gib: float, rounds: int, before: str | None = None) -> dict:
    folder = work / "media"
    t = time.perf_counter()
    files = media(folder, size_gib)
    total = sum(p.stat().st_size for p in files)
    print(
        f"made {len(files)} files, {total / MIB:,.0f} MiB, in {time.perf_counter() - t:.0f} s",
        file=sys.stderr,
    )
    out = work / "out"  # the contender's store or copy, deleted after it

    def ingest(name: str) -> Callable[[], list[object]]:
        """The ingest of the checkout ``where[name]``, into the store ``out / name``."""
        return lambda: [*DALEL, "--store", out / name, "ingest", folder, *INGEST]

    contenders = {
        "ingest": ingest("ingest"),
        "copy": lambda: ["sh", "-c", 'cp -r "$1" "$2" && sync -f "$2"', "sh", folder, out / "copy"],
        "openssl": lambda: ["openssl", "dgst", "-sha256", *files],
    }
    where = {"ingest": ROOT}
    if before:
        where["before"] = checkout(before, work / "before")
        contenders["before"] = ingest("before")

    def one(name: str) -> tuple[float, float]:
        out.mkdir(exist_ok=True)
        if name in where:
            dalel("--store", out / name, "init", where=where[name])
        warm(files)
        try:
            return timed(contenders[name](), where.get(name, ROOT))
        finally:
            settle(out)

    for name in contenders:  # warm: every file read once by each, untimed
        one(name)
    wall: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    loads: list[float] = []
    names = list(contenders)
    for r in range(rounds):
        loads.append(round(os.getloadavg()[0], 2))
        k = r % len(names)
        for name in names[k:] + names[:k]:  # who goes first rotates
            w, c = one(name)
            wall[name].append(w)
            cpu[name].append(c)
            print(f"round {r + 1} (load {loads[-1]}): {name:8} {w:6.2f} s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in wall.items()}
    gib = total / GIB
    vs_copy = med["copy"] / med["ingest"]
    vs_openssl = med["openssl"] / med["ingest"]
    # the ratios round by round (each round's contenders ran one after another)
    by_round = {
        "copy": [round(c / i, 3) for c, i in zip(wall["copy"], wall["ingest"], strict=True)],
        "openssl": [round(o / i, 3) for o, i in zip(wall["openssl"], wall["ingest"], strict=True)],
    }
    if before:
        by_round["before"] = [
            round(i / b, 3) for i, b in zip(wall["ingest"], wall["before"], strict=True)
        ]
    return {
        "files": len(files),
        "photos": sum(p.suffix == ".jpg" for p in files),
        "videos": sum(p.suffix == ".mp4" for p in files),
        "mib": round(total / MIB, 1),
        "rounds": rounds,
        "cache": "warm: each contender ran once untimed first, every file read just before each",
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "mib_per_s": {k: round(total / MIB / v, 1) for k, v in med.items()},
        "cpu_seconds_per_gib": {k: round(statistics.median(v) / gib, 2) for k, v in cpu.items()},
        "ratio_ingest_vs_copy": round(vs_copy, 3),
        "target_copy": TARGET_COPY,
        "copy_target_met": vs_copy >= TARGET_COPY,
        "ratio_ingest_vs_openssl": round(vs_openssl, 3),
        "target_openssl": TARGET_OPENSSL,
        "openssl_target_met": vs_openssl >= TARGET_OPENSSL,
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in wall.items()},
        "ratios_by_round": by_round,
        "load_before_each_round": loads,
        "settle_seconds": SETTLE,
        "before": before,
    }


# --- 2. one file into a big store ----------------------------------------------------------
def build(root: Path, n: int) -> float:
    """A store made by ``dalel init`` holding ``n`` ingest entries, handed in through the
    real pipeline in this process (small unique JPEGs as streams, committed every
    ``DALEL_COMMIT_EVERY`` files with their receipts, tokens and index); its seconds."""
    from pipeline import hooks, order
    from pipeline.run import run_submissions
    from pipeline.stages import Submission

    t = time.perf_counter()
    dalel("--store", root, "init", "--org", "bench")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 99, 199)).save(buf, format="JPEG")
    tiny = buf.getvalue()
    store = hooks.open_store(root)
    subs = (
        Submission.of_stream(
            io.BytesIO(tiny + f"dalel-bench-small-{i}".encode()),
            f"s{i:06d}.jpg",
            observer="obs-bench",
            precinct="1",
            kind="protocol",
        )
        for i in range(n)
    )
    batch = run_submissions(store, subs, stages=order.INGEST_STAGES)
    assert len(batch.receipts) == n, (len(batch.receipts), n)
    return time.perf_counter() - t


def bench_one_file(work: Path, big: int, rounds: int) -> dict:
    small = 1000
    stores = {small: work / "store-1k", big: work / f"store-{big}"}
    built = {}
    for n, root in stores.items():
        built[n] = build(root, n)
        print(f"built a store of {n:,} entries in {built[n]:.0f} s", file=sys.stderr)
    one = photos(work / "one", 2 * rounds + 2, PHOTO_MIB, "one")
    for p in one:  # warm, as in part 1
        p.read_bytes()
    shots = iter(one)
    for root in stores.values():  # once untimed each: imports and caches warm
        timed([*DALEL, "--store", root, "ingest", next(shots), *INGEST])
    wall: dict[int, list[float]] = {n: [] for n in stores}
    for r in range(rounds):
        for n, root in stores.items():
            w, _ = timed([*DALEL, "--store", root, "ingest", next(shots), *INGEST])
            wall[n].append(w)
        print(
            f"round {r + 1}: 1k {wall[small][-1]:.3f} s, {big:,} {wall[big][-1]:.3f} s",
            file=sys.stderr,
        )
    t = time.perf_counter()
    audit = subprocess.run(
        [*DALEL, "--store", stores[big], "audit", "--no-rehash"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    audit_s = time.perf_counter() - t
    med = {n: statistics.median(v) for n, v in wall.items()}
    ratio = med[big] / med[small]
    return {
        "small_entries": small,
        "big_entries": big,
        "photo_mib": round(one[0].stat().st_size / MIB, 2),
        "rounds": rounds,
        "build_seconds": {str(n): round(s, 1) for n, s in built.items()},
        "median_seconds": {str(n): round(v, 3) for n, v in med.items()},
        "ratio_big_vs_small": round(ratio, 3),
        "target": TARGET_BIG,
        "target_met": ratio <= TARGET_BIG,
        "all_seconds": {str(n): [round(x, 3) for x in v] for n, v in wall.items()},
        "audit_no_rehash_exit": audit.returncode,
        "audit_seconds": round(audit_s, 1),
        "audit_last_line": (audit.stdout.strip() or audit.stderr.strip()).splitlines()[-1:],
    }


# --- report --------------------------------------------------------------------------------
def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def table(result: dict) -> str:
    lines = []
    if "ingest" in result:
        r = result["ingest"]
        lines.append(
            f"ingest of {r['mib'] / 1024:.2f} GiB: {r['files']} files ({r['photos']} photos, "
            f"{r['videos']} videos), {r['mib']:,} MiB, median of {r['rounds']} rounds, warm cache"
        )
        lines.append(f"{'':10}{'seconds':>10}{'MiB/s':>10}{'CPU s/GiB':>11}")
        for k, s in r["median_seconds"].items():
            lines.append(
                f"{k:10}{s:>10.2f}{r['mib_per_s'][k]:>10.1f}{r['cpu_seconds_per_gib'][k]:>11.2f}"
            )
        lines.append(
            f"ingest/copy    {r['ratio_ingest_vs_copy']:.3f} (target >= {TARGET_COPY}): "
            f"{verdict(r['copy_target_met'])}"
        )
        lines.append(
            f"ingest/openssl {r['ratio_ingest_vs_openssl']:.3f} (target >= {TARGET_OPENSSL}): "
            f"{verdict(r['openssl_target_met'])}"
        )
        if r.get("before"):
            ratio = r["median_seconds"]["ingest"] / r["median_seconds"]["before"]
            lines.append(f"ingest now / at {r['before']}: {ratio:.3f} (seconds, medians)")
        lines.append(f"load average before each round: {r['load_before_each_round']}")
    if "one_file" in result:
        r = result["one_file"]
        big, small = str(r["big_entries"]), str(r["small_entries"])
        lines.append(
            f"one-file ingest ({r['photo_mib']} MiB photo), median of {r['rounds']} rounds: "
            f"{small} entries {r['median_seconds'][small]:.3f} s, "
            f"{int(big):,} entries {r['median_seconds'][big]:.3f} s"
        )
        lines.append(
            f"{int(big):,}/{int(small):,} entries {r['ratio_big_vs_small']:.3f} "
            f"(target <= {TARGET_BIG}): "
            f"{verdict(r['target_met'])}; audit --no-rehash of the big store: exit "
            f"{r['audit_no_rehash_exit']} ({r['audit_seconds']} s)"
        )
    lines.append(f"run took {result['run_seconds']:.0f} s on {result['cpus']} cores")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="ingest rounds (one-file: 3x)")
    ap.add_argument("--size-gib", type=float, default=1.0)
    ap.add_argument("--big", type=int, default=50_000)
    ap.add_argument("--before", help="an earlier commit whose ingest runs in the same rounds")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-one-file", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--settle",
        type=float,
        default=SETTLE,
        help="seconds to wait after deleting a contender's store or copy (0: none)",
    )
    args = ap.parse_args()
    globals()["SETTLE"] = args.settle
    start = time.perf_counter()
    result: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="dalel-ingest-bench-") as tmp:
        work = Path(tmp)
        ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        if not args.skip_ingest:
            result["ingest"] = bench_ingest(work, args.size_gib, args.rounds, args.before)
            remove(work / "media")
        if not args.skip_one_file:
            result["one_file"] = bench_one_file(work, args.big, 3 * args.rounds)
    result["load_after"] = os.getloadavg()
    result["run_seconds"] = round(time.perf_counter() - start, 1)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2) if args.json else table(result))
    audit_ok = args.skip_one_file or result["one_file"]["audit_no_rehash_exit"] == 0
    return 0 if audit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
