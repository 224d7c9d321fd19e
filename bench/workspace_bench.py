"""The workspace at the size of a national election night: the review page for a protocol on a
store of 10,000 protocols (target under 300 ms), the alternative-results page for 10,000
precincts (target under 1 s).

    python bench/workspace_bench.py [--protocols 10000] [--runs 15] [--json]

The store is built here: 10,000 protocol readings are appended as the ``ocr`` stage records
them (real custody entries, signed and indexed, each naming a crop object per figure in
review), not read by the reader (10,000 readings would take hours); an official import and a
precinct registry of the same 10,000 precincts, in 17 regions. A third of the figures are in
review. The pages are asked through the application in this process (Starlette's test
client: no network, the work the server does per request), signed in; each figure is the
median (and the 95th percentile) of ``--runs`` requests after one warm-up. The review queue
is a view of the log kept up to date entry by entry (``review_api_first_ms``: the first
request, which builds it); the results table is made again only when an entry it depends on
was added (``results_page_cold``: each request as after such an entry). Writes
bench/out/workspace.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = [
    "Абай облысы", "Ақмола облысы", "Ақтөбе облысы", "Алматы облысы", "Атырау облысы",
    "Батыс Қазақстан облысы", "Жамбыл облысы", "Жетісу облысы", "Қарағанды облысы",
    "Қостанай облысы", "Қызылорда облысы", "Маңғыстау облысы", "Павлодар облысы",
    "Солтүстік Қазақстан облысы", "Түркістан облысы", "Ұлытау облысы", "Шығыс Қазақстан облысы",
]  # fmt: skip


def build(root: Path, n: int) -> dict[str, str]:
    """A store of ``n`` protocol readings, an official import and a registry; the users."""
    import ocr
    from app import official, registry, users
    from app.setup import open_store
    from evidence.core import events
    from ocr.synth.generate import make_figures
    from testing.workspace import dalel

    dalel("--store", root, "init", "--org", "Bench")
    store = open_store(root)
    form = ocr.load_form("kz-mazhilis-party-list-2023")
    rng = random.Random(2026)
    png = store.objects.put_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).sha256
    off_rows = ["precinct,field,value"]
    reg_rows = ["number,region,district,address,latitude,longitude"]
    t0 = time.perf_counter()
    with store.writer() as w:
        for i in range(n):
            precinct = str(1000 + i)
            figures = make_figures(form, rng)
            photo = hashlib.sha256(f"photo {i}".encode()).hexdigest()
            entry_figs, objects = {}, []
            for k, v in figures.items():
                review = rng.random() < 0.33
                entry_figs[k] = {
                    "value": v,
                    "status": "review" if review else "accepted",
                    "confidence": 0.5 if review else 0.99,
                    "reason": "readings_disagree" if review else "readers_agree",
                }
                objects.append({"sha256": png, "role": "crop", "field": k, "parent": photo})
                shown = v + (rng.choice((-100, 100)) if rng.random() < 0.02 else 0)
                off_rows.append(f"{precinct},{k},{max(0, shown)}")
            w.append(
                {
                    "event": events.OCR,
                    "subject": photo,
                    "precinct": precinct,
                    "kind": "protocol",
                    "form": form.id,
                    "engine": {},
                    "perceptual_hash": f"{rng.getrandbits(64):016x}",
                    "figures": entry_figs,
                    "relations": [],
                    "problem": None,
                    "objects": objects,
                }
            )
            reg_rows.append(f"{precinct},{REGIONS[i % len(REGIONS)]},Аудан {i % 40},,,")
    store.index.catch_up()
    built = time.perf_counter() - t0
    official.import_csv(store, ("\n".join(off_rows) + "\n").encode())
    registry.import_csv(store, ("\n".join(reg_rows) + "\n").encode())
    people = {
        "reviewer": users.add(store, "Reviewer", "reviewer").password,
        "coordinator": users.add(store, "Coordinator", "coordinator").password,
    }
    print(f"store: {n:,} protocol readings appended in {built:.1f} s", file=sys.stderr)
    return people


def timed(client, path: str, runs: int, before=None) -> dict[str, float]:
    client.get(path)  # warm-up
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code in (200, 204), (path, r.status_code)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocols", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from starlette.testclient import TestClient

    from app.setup import open_store
    from web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        people = build(root, args.protocols)
        store = open_store(root)
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        out: dict[str, object] = {
            "protocols": args.protocols,
            "store_mb": round(size / 2**20, 1),
            "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        }
        from app import results

        with TestClient(create_app(store, batch_every=600), base_url="http://127.0.0.1") as c:
            c.post("/api/session", json={"name": "Reviewer", "password": people["reviewer"]})
            t = time.perf_counter()
            c.get("/api/review/next")
            out["review_api_first_ms"] = round((time.perf_counter() - t) * 1000, 1)
            out["review_api"] = timed(c, "/api/review/next", args.runs)
            out["review_page"] = timed(c, "/w/review", args.runs)
            c.cookies.clear()
            c.post("/api/session", json={"name": "Coordinator", "password": people["coordinator"]})
            out["results_page"] = timed(c, "/w/results", args.runs)
            # as after an entry that changes the table (a photo read, a figure confirmed)
            out["results_page_cold"] = timed(c, "/w/results", 5, before=results._MADE.clear)
            out["results_json"] = timed(c, "/api/results?format=json", max(3, args.runs // 3))
    review = out["review_api"]["median_ms"] + out["review_page"]["median_ms"]  # type: ignore[index]
    out["review_total_ms"] = round(review, 1)
    out["review_target_met"] = review < 300
    out["results_target_met"] = out["results_page"]["median_ms"] < 1000  # type: ignore[index]
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "workspace.json").write_text(json.dumps(out, indent=1))
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k:18} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
