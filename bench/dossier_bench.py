"""Benchmark: a signed court dossier of 50 protocol photos through the CLI (issue 18 target:
at most 9 s wall and 400 MB peak RSS).

    .venv/bin/python bench/dossier_bench.py [--photos 50] [--width 2592 --height 1944]
        [--noise 0] [--edition court] [--lang ru] [--rounds 3] [--before REV]
        [--store DIR] [--json]

Before the clock starts a store is filled as a legal team fills it: ``dalel init``, the
photos through ``dalel run`` (hashed, timestamped, their metadata and figures read by OCR),
an official result, a case from the discrepancy holding every photo and the filing details.
Making it takes minutes (OCR), so it is kept in ``--store DIR`` (default under bench/out/)
and reused when it is there.

The timed part is ``dalel --store S dossier build case-0001 --out F`` as a process of its
own: wall time from its start to its exit. Its peak memory is the larger of its peak resident
set size (``ru_maxrss`` from ``wait4``: the largest single process) and the largest sum,
sampled every 50 ms, of the proportional set sizes (PSS) of the process and the one it forks
to lay out part of a long dossier (each page they share counted once). The sums are sampled
in runs of their own, one per checkout after the timed rounds: reading a process's
``smaps_rollup`` walks its page tables (3.4 ms of CPU for one of 300 MB), and sampling two
processes every 50 ms took a seventh of a core from a build that uses both. Each round
runs it once per checkout; with ``--before REV`` an earlier commit is checked out into a
temporary worktree (run with this checkout's virtualenv) and timed in turn with this one
(A B A B ...), so that the machine's load touches both alike, and the ratio of the medians
is printed. Every PDF made is checked with ``dalel dossier
verify``. One more run per checkout, through bench/dossier_phases.py, says where the time
goes. The CPU time of the build process and the load average are printed too: on a shared
machine the wall time depends on what else runs. Writes bench/out/dossier.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The commands run with Python's bytecode cache, as an installed dalel keeps it (the untimed
#: first build writes it), in a folder of the run's own (``PYTHONPYCACHEPREFIX``) even where
#: ``PYTHONDONTWRITEBYTECODE`` is set: without it every module is compiled at every start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TARGET_S = 9.0
TARGET_MB = 400.0
IIN = "870412300416"  # a valid check digit (synthetic)
CASE = "case-0001"


def _dalel(store: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "cli", "--store", str(store), *args]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False)
    if p.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    return p


def make_store(store: Path, photos: int, size: tuple[int, int], noise: float) -> None:
    """A store with ``photos`` protocol photos of precinct 31 read by OCR, in one case."""
    import numpy as np
    from PIL import Image

    from ocr.synth.generate import make_sample

    work = store.parent / (store.name + ".inbox")
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for i in range(photos):
        s = make_sample(
            i, 5, tier="clean", script="typed", layout="table", adds_up=True, precinct=31
        )
        sheet = Image.open(io.BytesIO(s.image)).convert("RGB")
        width, height = size
        if sheet.width < sheet.height:  # portrait sheet, photographed upright
            width, height = min(size), max(size)
        photo = sheet.resize((width, height), Image.Resampling.BICUBIC)
        if noise:
            grain = rng.normal(0, noise, (height, width, 1))
            pixels = np.asarray(photo, dtype=np.float32) + grain
            photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        photo.save(work / f"protocol-31-{i + 1:02d}.jpg", quality=90)
    _dalel(store, "init", "--org", "Қазақстан бақылаушылар коалициясы")
    _dalel(store, "run", str(work), "--observer", IIN, "--precinct", "31", "--kind", "protocol")
    official = work / "official.csv"
    official.write_text("precinct,field,value\n31,amanat,1\n", encoding="utf-8")
    _dalel(store, "official", "import", str(official))
    _dalel(store, "case", "new", "--from-discrepancy", "31")
    lines = (store / "log" / "custody.jsonl").read_bytes().splitlines()
    entries = [json.loads(line)["entry"] for line in lines]
    items = [e["item"]["sha256"] for e in entries if e["event"] == "ingest"]
    _dalel(store, "case", "add-evidence", CASE, *items)
    _dalel(
        store,
        "case",
        "set",
        CASE,
        "--respondent",
        "Участковая избирательная комиссия № 31",
        "--complainant-name",
        "Айгерім Сәрсенова",
        "--complainant-iin",
        IIN,
        "--addressee-name",
        "Территориальная избирательная комиссия Алмалинского района",
        "--complainant-address",
        "г. Алматы, ул. Абая, 1",
        "--event-date",
        "2026-11-30",
        "--facts",
        "Наблюдателю выдана копия протокола; цифры расходятся с официальными.",
        "--relief",
        "Проверить итоги по участку.",
    )
    (store / ".bench-ready").write_text(f"{photos} {size} {noise}\n")


def build_once(
    checkout: Path, store: Path, out: Path, edition: str, lang: str, *, sampled: bool = False
) -> dict:
    """Wall time, peak RSS and CPU time of one ``dalel dossier build`` process; ``sampled``:
    with its processes' PSS summed every 50 ms (which slows it: not a timed run)."""
    cmd = [sys.executable, "-m", "cli", "--store", str(store), "dossier", "build", CASE]
    cmd += ["--out", str(out), "--edition", edition, "--lang", lang]
    t = time.perf_counter()
    p = subprocess.Popen(
        cmd, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV
    )
    together = _TreeMemory(p.pid) if sampled else None
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if together is not None:
        together.stop()
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"dossier build in {checkout} failed ({p.returncode}): {err[-800:]}")
    return {
        "wall_s": wall,
        "peak_rss_mb": max(usage.ru_maxrss / 1024, together.peak_mb if together else 0.0),
        "largest_process_peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


class _TreeMemory:
    """The largest sum of the proportional set sizes (PSS: each shared page counted once, in
    shares) of a process and its children, sampled every 50 ms: the memory a long dossier's
    two processes (part B is laid out by a forked copy) take together."""

    def __init__(self, pid: int) -> None:
        import threading

        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(pid,), daemon=True)
        self._thread.start()

    def _watch(self, pid: int) -> None:
        while not self._done.wait(0.05):
            total = sum(_pss_kb(p) for p in (pid, *_children(pid)))
            self.peak_mb = max(self.peak_mb, total / 1024)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _children(pid: int) -> list[int]:
    """The process's children (``/proc/PID/task/*/children``: no scan of every process)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    """A process's proportional set size in KiB (``smaps_rollup``: one line, cheap enough to
    read every 50 ms without slowing what is measured); 0 once it has ended."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def verified(store: Path, pdf: Path) -> bool:
    p = subprocess.run(
        [sys.executable, "-m", "cli", "dossier", "verify", str(pdf), "--store", str(store)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return p.returncode == 0


def phases(checkout: Path, store: Path, out: Path, edition: str, lang: str) -> dict:
    report = out.with_suffix(".phases.json")
    cmd = [sys.executable, str(ROOT / "bench" / "dossier_phases.py"), str(checkout), str(report)]
    cmd += ["--", "--store", str(store), "dossier", "build", CASE, "--out", str(out)]
    cmd += ["--edition", edition, "--lang", lang]
    subprocess.run(cmd, cwd=checkout, capture_output=True, check=True, env=ENV)
    return dict(json.loads(report.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--width", type=int, default=2592)
    parser.add_argument("--height", type=int, default=1944)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="sensor-like noise (grey levels) for phone-sized JPEGs, e.g. 6",
    )
    parser.add_argument("--edition", choices=("court", "public"), default="court")
    parser.add_argument("--lang", choices=("ru", "kk", "en"), default="ru")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="an earlier commit to time side by side")
    parser.add_argument("--store", type=Path, help="where the prepared store is kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    size = (args.width, args.height)
    store = args.store or (
        ROOT / "bench" / "out" / f"dossier-store-{args.photos}-{args.width}x{args.height}"
        f"-n{args.noise:g}"
    )
    t0 = time.perf_counter()
    if not (store / ".bench-ready").exists():
        if store.exists():
            raise SystemExit(f"{store} exists but was not finished: remove it")
        make_store(store, args.photos, size, args.noise)
    prep_s = time.perf_counter() - t0
    input_mb = sum(f.stat().st_size for f in (store.parent / (store.name + ".inbox")).glob("*.jpg"))

    with tempfile.TemporaryDirectory(prefix="dalel-dossier-bench-") as tmp:
        work = Path(tmp)
        ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        checkouts = {"now": ROOT}
        if args.before:
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(work / "before"), args.before],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            checkouts["before"] = work / "before"
        runs: dict[str, list[dict]] = {k: [] for k in checkouts}
        ok: dict[str, bool] = {}
        phase: dict[str, dict] = {}
        memory: dict[str, float] = {}
        try:
            for label, where in checkouts.items():  # warm .pyc files and the page cache
                build_once(where, store, work / f"warm-{label}.pdf", args.edition, args.lang)
            for r in range(args.rounds):
                order = list(checkouts.items())
                for label, where in order if r % 2 == 0 else order[::-1]:
                    pdf = work / f"{label}-{r}.pdf"
                    runs[label].append(build_once(where, store, pdf, args.edition, args.lang))
                    ok[label] = ok.get(label, True) and verified(store, pdf)
            for label, where in checkouts.items():
                pdf = work / f"memory-{label}.pdf"
                memory[label] = build_once(
                    where, store, pdf, args.edition, args.lang, sampled=True
                )["peak_rss_mb"]
                pdf = work / f"phases-{label}.pdf"
                phase[label] = phases(where, store, pdf, args.edition, args.lang)
        finally:
            if args.before:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(work / "before")],
                    cwd=ROOT,
                    check=False,
                    capture_output=True,
                )
        pdf_mb = (work / "now-0.pdf").stat().st_size / 2**20 if args.rounds else 0.0

    def med(label: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[label])

    result: dict = {
        "photos": args.photos,
        "photo_px": f"{args.width}x{args.height}",
        "noise": args.noise,
        "edition": args.edition,
        "language": args.lang,
        "input_mb": round(input_mb / 2**20, 1),
        "prepare_store_s": round(prep_s, 1),
        "rounds": args.rounds,
        "before": args.before,
        "pdf_mb": round(pdf_mb, 1),
        "target": {"wall_s": TARGET_S, "peak_rss_mb": TARGET_MB},
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    for label in checkouts:
        result[label] = {
            "wall_s": round(med(label, "wall_s"), 2),
            "wall_s_all": [round(x["wall_s"], 2) for x in runs[label]],
            "peak_rss_mb": round(max(memory[label], *(x["peak_rss_mb"] for x in runs[label])), 1),
            "largest_process_peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs[label]), 1),
            "processes_pss_sum_peak_mb": round(memory[label], 1),
            "cpu_s": round(med(label, "cpu_s"), 2),
            "verified": ok.get(label, False),
            "phases_s": {k: round(v, 2) for k, v in phase[label]["phases_s"].items()},
            "phases_total_s": round(phase[label]["total_s"], 2),
            "peak_rss_mb_after": {
                k: round(v) for k, v in phase[label].get("peak_rss_mb_after", {}).items()
            },
        }
    now = result["now"]
    result["target_met"] = now["wall_s"] <= TARGET_S and now["peak_rss_mb"] <= TARGET_MB
    if args.before:
        before = result["before"]
        result["now_over_before"] = {
            k: round(now[k] / before[k], 2) for k in ("wall_s", "peak_rss_mb", "cpu_s")
        }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dossier.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(
            f"{args.photos} photos of {result['photo_px']} ({result['input_mb']} MB), "
            f"{args.edition} edition, {args.lang}; PDF {result['pdf_mb']} MB; "
            f"load average {result['load_avg_1min']}"
        )
        for label in checkouts:
            r = result[label]
            print(
                f"{label:>6}: wall {r['wall_s']:.2f} s (runs {r['wall_s_all']}), "
                f"peak RSS {r['peak_rss_mb']:.0f} MB, CPU {r['cpu_s']:.2f} s, "
                f"verified {r['verified']}"
            )
            peaks = r["peak_rss_mb_after"]
            for k, v in r["phases_s"].items():
                rss = f"  (peak RSS {peaks[k]} MB by its end)" if k in peaks else ""
                print(f"          {v:6.2f} s  {k}{rss}")
        if args.before:
            print(f" now/before: {result['now_over_before']}")
        met = "met" if result["target_met"] else "NOT met"
        print(f"target (<= {TARGET_S:g} s, <= {TARGET_MB:g} MB): {met}")
    return 0 if all(ok.get(k) for k in checkouts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
