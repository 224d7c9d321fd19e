"""Reading protocols as jobs (issue 17): one worker against two, and against reading in the
command's own process, side by side.

A PostgreSQL server is started in a temporary folder (Debian's, bound to 127.0.0.1) and a
store made with ``dalel init --db``; ``--photos`` protocol photos from the generator (clean
scans and ordinary photos, typed and handwritten, the usual layouts; new seeds each run) are
handed in as protocols. Then, in alternating rounds, the same photos are read three ways,
each from a store in the same state (the readings of the round before taken out of a copy
made before any reading):

- ``inproc``: ``dalel ocr``, reading in its own process (the embedded default);
- ``1 worker``: ``dalel ocr --queue`` then ``dalel worker --until-done``;
- ``2 workers``: the same with ``--concurrency 2`` (two worker processes).

Each is timed as whole processes, from queuing to the last reading logged. Figures: photos
a second (median over rounds), and the ratios 2 workers / 1 worker and 1 worker / in
process. Every round checks that each photo has exactly one reading in the log.

    python bench/workers_bench.py [--photos 24] [--rounds 2] [--json]

Writes bench/out/workers.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence.provision import init_store  # noqa: E402
from ocr.synth.generate import make_sample  # noqa: E402
from testing.postgres import PostgresServer  # noqa: E402

IIN = "870412300416"


def dalel(store: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "cli", "--store", str(store), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"dalel {' '.join(args)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r


def readings(store: Path) -> list[str]:
    lines = (store / "log" / "custody.jsonl").read_bytes().splitlines()
    entries = (json.loads(ln)["entry"] for ln in lines)
    return [e["subject"] for e in entries if e["event"] == "ocr"]


def photos(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    kinds = [("clean", "typed"), ("photo", "typed"), ("clean", "handwritten"), ("photo", "hw")]
    for i in range(n):
        tier, script = kinds[i % len(kinds)]
        script = "handwritten" if script == "hw" else script
        s = make_sample(i, seed, tier=tier, script=script, layout="table", adds_up=True)
        (folder / f"p{i:03d}.{s.ext}").write_bytes(s.image)


def fresh_store(pg: PostgresServer, base: Path, name: str, inbox: Path) -> Path:
    url = pg.create_database()
    store = base / name
    init_store(store, org="Bench", db=url)
    dalel(store, "ingest", str(inbox), "--observer", IIN, "--precinct", "12", "--kind", "protocol")
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    ways = {
        "inproc": [("ocr",)],
        "1 worker": [("ocr", "--queue"), ("worker", "--until-done")],
        "2 workers": [("ocr", "--queue"), ("worker", "--until-done", "--concurrency", "2")],
    }
    times: dict[str, list[float]] = {w: [] for w in ways}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dalel-workers-") as tmp, PostgresServer.start() as pg:
        os.environ["PGPASSWORD"] = pg.password
        base = Path(tmp)
        inbox = base / "inbox"
        photos(inbox, a.photos, a.seed)
        for r in range(a.rounds):
            order = list(ways) if r % 2 == 0 else list(reversed(ways))
            for way in order:
                store = fresh_store(pg, base, f"r{r}-{way.replace(' ', '')}", inbox)
                loads.append(os.getloadavg()[0])
                t0 = time.perf_counter()
                for step in ways[way]:
                    dalel(store, *step)
                elapsed = time.perf_counter() - t0
                got = readings(store)
                if sorted(got) != sorted(set(got)) or len(got) != a.photos:
                    raise SystemExit(f"{way}: {len(got)} readings for {a.photos} photos")
                times[way].append(elapsed)
                print(f"round {r + 1} {way:9s} {elapsed:6.1f} s", file=sys.stderr)
                shutil.rmtree(store)

    med = {w: statistics.median(t) for w, t in times.items()}
    out = {
        "photos": a.photos,
        "rounds": a.rounds,
        "seed": a.seed,
        "cores": os.cpu_count(),
        "load_before_rounds": [round(x, 2) for x in loads],
        "seconds": {w: [round(x, 2) for x in t] for w, t in times.items()},
        "photos_per_second": {w: round(a.photos / m, 3) for w, m in med.items()},
        "two_over_one_worker": round(med["1 worker"] / med["2 workers"], 3),
        "one_worker_over_inproc": round(med["inproc"] / med["1 worker"], 3),
    }
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "workers.json").write_text(json.dumps(out, indent=2))
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{a.photos} protocol photos, {a.rounds} rounds, {os.cpu_count()} cores")
    for w in ways:
        print(f"  {w:10s} {med[w]:6.1f} s  {out['photos_per_second'][w]:.2f} photos/s")
    print(f"  2 workers / 1 worker (throughput): {out['two_over_one_worker']:.2f}x")
    print(f"  1 worker / in process (throughput): {out['one_worker_over_inproc']:.2f}x")


if __name__ == "__main__":
    main()
