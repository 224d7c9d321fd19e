"""The coverage board for 10,000 precincts and 20,000 sign-ups (target: under 1 s).

    python bench/coverage_bench.py [--precincts 10000] [--signups 20000] [--runs 15] [--json]

The store is built here: a precinct registry of ``--precincts`` precincts in 17 regions, 4
districts each, with coordinates (one in fifty without); ``--signups`` sign-ups written into
the workspace's sign-up file as ``app.signups`` keeps them (rows, not the public page: 20,000
custody entries and invites would take minutes to make and the board reads none of them), two
thirds approved, the rest pending or declined, over every shift; two other organisations'
coverage notes imported (signed, checked) over a third of the precincts each; and a protocol
photo for one precinct in four (an ``ingest`` entry as ingest records it). Requests go through
the application in this process (Starlette's test client, signed in as a coordinator). Each
figure is the median and the 95th percentile of ``--runs`` requests after one warm-up:

- ``board_page``: GET /w/coverage (the counts, the map of every placed precinct, the gaps);
- ``board_json`` and ``board_csv``: GET /api/coverage, every precinct;
- ``board_counts``: ``app.coverage.board`` alone (what ``dalel coverage show`` computes).

Prints the figures with the store's size and the machine; writes bench/out/coverage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = [
    "Абай облысы", "Ақмола облысы", "Ақтөбе облысы", "Алматы облысы", "Атырау облысы",
    "Батыс Қазақстан облысы", "Жамбыл облысы", "Жетісу облысы", "Қарағанды облысы",
    "Қостанай облысы", "Қызылорда облысы", "Маңғыстау облысы", "Павлодар облысы",
    "Солтүстік Қазақстан облысы", "Түркістан облысы", "Ұлытау облысы", "Шығыс Қазақстан облысы",
]  # fmt: skip
SHIFTS = ("day", "morning", "evening", "count")


def build(root: Path, precincts: int, n_signups: int) -> dict[str, Any]:
    from app import coverage, registry, signups, users
    from app.setup import init, open_store
    from evidence.core import events

    rng = random.Random(22)
    init(root, "Ерікті бақылаушылар")
    store = open_store(root)
    numbers = [str(1000 + i) for i in range(precincts)]
    lines = ["number,region,district,address,latitude,longitude"]
    for i, n in enumerate(numbers):
        region = REGIONS[i % len(REGIONS)]
        lat, lon = (
            ("", "")
            if i % 50 == 0
            else (f"{rng.uniform(41, 55):.4f}", f"{rng.uniform(47, 87):.4f}")
        )
        lines.append(f"{n},{region},{region.split()[0]} ауданы {i % 4},,{lat},{lon}")
    registry.import_csv(store, ("\n".join(lines) + "\n").encode())
    # the sign-ups, as the workspace's file keeps them
    with signups._db(store) as con:
        con.execute("BEGIN")
        rows = set()
        while len(rows) < n_signups:
            rows.add((rng.choice(numbers), rng.choice(SHIFTS), f"+7 701 {len(rows):07d}"))
        for i, (p, shift, contact) in enumerate(sorted(rows)):
            status = "approved" if i % 3 else rng.choice(("pending", "declined"))
            con.execute(
                "INSERT INTO signups(id, precinct, shift, name, contact, contact_key, observer,"
                " status, created) VALUES (?,?,?,?,?,?,?,?,?)",
                (f"sgn-{i:08x}", p, shift, f"Бақылаушы {i}", contact, contact.replace(" ", ""),
                 None, status, "2026-12-01T10:00:00Z"),
            )  # fmt: skip
        con.execute("COMMIT")
    # two other organisations' notes
    for k, org in enumerate(("Адал сайлау", "Third organisation")):
        other_root = root.parent / f"other-{k}"
        init(other_root, org)
        other = open_store(other_root)
        held = {n: {rng.choice(SHIFTS)} for n in numbers if rng.random() < 1 / 3}
        coverage.import_note(store, coverage.export(other, held))
    # protocol photos: one precinct in four
    with store.writer() as w:
        for i, n in enumerate(numbers[::4]):
            sha = f"{rng.getrandbits(256):064x}"
            w.append(
                {
                    "event": events.INGEST,
                    "item": {"sha256": sha, "size": 1000, "media_type": "image/jpeg"},
                    "kind": "protocol",
                    "precinct": n,
                    "path": f"protocol-{n}.jpg",
                    "name": f"protocol-{n}.jpg",
                    "actor": {"role": "observer", "id": f"obs-{i:020x}"},
                    "metadata": {},
                }
            )
    store.index.catch_up()
    password = users.add(store, "Coordinator", "coordinator").password
    return {"password": password, "counts": signups.counts(store)}


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
    }


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--precincts", type=int, default=10_000)
    ap.add_argument("--signups", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from starlette.testclient import TestClient

    from app import coverage
    from app.setup import open_store
    from web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t0 = time.perf_counter()
        made = build(root, args.precincts, args.signups)
        built = time.perf_counter() - t0
        store = open_store(root)
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        out: dict[str, Any] = {
            "precincts": args.precincts,
            "signups": made["counts"],
            "store_mb": round(size / 2**20, 1),
            "built_s": round(built, 1),
            "machine": f"{os.cpu_count()} cores, {_cpu()}, load {os.getloadavg()[0]:.1f}",
        }
        app = create_app(store, batch_every=600, warm=False)
        with TestClient(app, base_url="http://127.0.0.1") as c:
            r = c.post("/api/session", json={"name": "Coordinator", "password": made["password"]})
            assert r.status_code == 200, r.text
            page = c.get("/w/coverage")
            assert page.status_code == 200
            out["page_kb"] = round(len(page.content) / 1024)

            def get(url: str) -> Callable[[], None]:
                def fn() -> None:
                    assert c.get(url).status_code == 200

                return fn

            out["board_counts"] = timed(lambda: coverage.board(store), args.runs)
            out["board_page"] = timed(get("/w/coverage"), args.runs)
            out["board_json"] = timed(get("/api/coverage?format=json"), max(3, args.runs // 3))
            out["board_csv"] = timed(get("/api/coverage?format=csv"), max(3, args.runs // 3))
            total = c.get("/api/coverage").json()["total"]
            out["total"] = total
    out["target_met"] = out["board_page"]["p95_ms"] < 1000
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "coverage.json").write_text(json.dumps(out, indent=1))
    if args.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
    else:
        for k, v in out.items():
            print(f"{k:16} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
