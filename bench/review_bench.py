"""Benchmark: the review page for a protocol on a store of 10,000 protocols (issue 16 target:
under 300 ms).

    .venv/bin/python bench/review_bench.py [--protocols 10000] [--rounds 30] [--store DIR]
        [--json]

The store: ``dalel init``, four protocol photos handed in and read by the real reader
(testing/workspace.py: handwritten ones, so figures go to review), then as many more
protocols as ``--protocols`` asks appended directly through the writer, since running OCR
10,000 times would take hours. Each appended protocol is an ``ingest`` entry of a small
photo of its own (a 96x128 PNG, unique bytes) and an ``ocr`` entry copied from a real
handwritten reading with the figures changed at random (about a third of them sent to
review, as handwriting is), its own precinct number, every fifth precinct with a second
photo of different figures (a possible substitution); the reading object (candidates, words)
is the real one's, shared, and the crops come from a pool of 64 tiny PNGs. About 20 % of
the protocols' review figures already carry one reviewer's entry (``review-entry``), so the
queue is not all fresh. The store is kept in ``--store DIR`` (default bench/out/review-store)
and reused when it has the protocols asked for.

The timed part, through Starlette's TestClient in this process (no network): a reviewer
signed in, ``GET /api/review/next`` and ``GET /w/review``, each ``--rounds`` times; before
the first round the workspace has not seen the store (the first call reads every reading:
reported apart, as "cold"). Between rounds a second reviewer enters one figure, so that
every timed ``next`` follows a change in the log (the work a real queue does); then the
photo and every crop the page shows are fetched one after another (timed together). Prints
median and p95, the store's size (entries, protocols, bytes) and the machine (nproc, CPU
model); writes bench/out/review.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 300.0


def _png(rng: random.Random, w: int, h: int) -> bytes:
    from PIL import Image

    img = Image.frombytes("L", (w, h), bytes(rng.randrange(200, 256) for _ in range(w * h)))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _protocols(store: Any) -> int:
    store.index.catch_up()
    return sum(1 for _ in store.index.entries_by_event("ocr"))


def make_store(root: Path, protocols: int, seed: int = 16) -> None:
    """Four photos read by the real reader, then ``protocols - 4`` appended (see above)."""
    from app.setup import open_store
    from testing.workspace import protocol_store

    if not (root / "config.toml").exists():
        protocol_store(root)
    store = open_store(root)
    have = _protocols(store)
    if have >= protocols:
        return
    rng = random.Random(seed)
    index = store.index
    real = [e for e in index.entries_by_event("ocr")]
    template = max(
        real, key=lambda e: sum(f["status"] != "accepted" for f in e["figures"].values())
    )
    ingest = next(e for e in index.history(template["subject"]) if e["event"] == "ingest")
    reading = next(o for o in template["objects"] if o["role"] == "reading")
    crops = [store.objects.put_bytes(_png(rng, 60, 18)).sha256 for _ in range(64)]
    reviewer = "usr-" + "b" * 20
    n = have
    with store.writer() as w:
        while n < protocols:
            precinct = str(1000 + n)
            copies = 2 if n % 5 == 0 else 1
            for _ in range(copies):
                if n >= protocols:
                    break
                photo = store.objects.put_bytes(_png(rng, 96, 128))
                entry = {
                    k: v
                    for k, v in ingest.items()
                    if k not in ("seq", "prev", "time", "v", "sig", "item")
                }
                entry.update(
                    item={"sha256": photo.sha256, "size": photo.size, "media_type": "image/png"},
                    name=f"protocol-{precinct}-{n}.png",
                    path=f"protocol-{precinct}-{n}.png",
                    precinct=precinct,
                )
                w.append(entry)
                figures = {}
                for key, f in template["figures"].items():
                    review = rng.random() < 0.35
                    figures[key] = {
                        "value": rng.randrange(0, 900),
                        "status": "review" if review else "accepted",
                        "confidence": round(rng.uniform(0.2, 0.6) if review else 0.99, 4),
                        "reason": "digits_and_words_disagree" if review else f["reason"],
                    }
                objects = [{**reading, "parent": photo.sha256}] + [
                    {
                        "sha256": rng.choice(crops),
                        "role": "crop",
                        "field": key,
                        "parent": photo.sha256,
                        "operation": "ocr-crop",
                    }
                    for key in figures
                ]
                ocr_entry = {
                    k: v
                    for k, v in template.items()
                    if k not in ("seq", "prev", "time", "v", "sig", "objects", "figures")
                }
                ocr_entry.update(
                    subject=photo.sha256,
                    precinct=precinct,
                    figures=figures,
                    objects=objects,
                    perceptual_hash=f"{rng.getrandbits(64):016x}",
                )
                appended = w.append(ocr_entry)
                if rng.random() < 0.2:
                    for key, f in figures.items():
                        if f["status"] != "accepted":
                            w.append(
                                {
                                    "event": "review-entry",
                                    "subject": photo.sha256,
                                    "precinct": precinct,
                                    "actor": {"role": "reviewer", "id": reviewer},
                                    "field": key,
                                    "value": f["value"],
                                    "reading_seq": appended.seq,
                                }
                            )
                n += 1
                if n % 500 == 0:
                    w.commit()
                    print(f"  {n} protocols", file=sys.stderr)
    store.index.catch_up()


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {"nproc": int(nproc or 0), "cpu": model, "load": os.getloadavg()}


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _stats(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "median_ms": round(statistics.median(s), 1),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 1),
        "max_ms": round(s[-1], 1),
    }


def _forget() -> None:
    """Drop what the process keeps between requests, as a restart does."""
    from app import figures, results, review

    review._VIEWS.clear()
    results.forget()
    figures._LOGGED.clear()


def _after_warm_up(store: Any, password: str) -> tuple[dict[str, float], float]:
    """A server started afresh, its warm-up let finish: the seconds it took, and the first
    ``GET /api/review/next`` after it (in ms)."""
    from starlette.testclient import TestClient

    from web.app import create_app

    _forget()
    app = create_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        ok = c.post("/api/session", json={"name": "Bench reviewer A", "password": password})
        assert ok.status_code == 200, ok.text
        while len(app.state.warmed) < 2:
            time.sleep(0.05)
        t = time.perf_counter()
        r = c.get("/api/review/next")
        ms = (time.perf_counter() - t) * 1000
        assert r.status_code == 200, r.text
    warmed = dict(app.state.warmed)
    _forget()
    return warmed, ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--protocols", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--store", type=Path, default=ROOT / "bench" / "out" / "review-store")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    make_store(args.store, args.protocols)
    built = time.perf_counter() - t0

    from starlette.testclient import TestClient

    from app import users
    from app.setup import open_store
    from web.app import create_app

    store = open_store(args.store)
    names = [u.name for u in users.all_users(store)]
    people = {}
    for name in ("Bench reviewer A", "Bench reviewer B"):
        if name in names:
            people[name] = users.reset(store, name).password
        else:
            people[name] = users.add(store, name, "reviewer").password
    store.index.catch_up()
    entries = store.index.last_seq() + 1
    protocols = _protocols(store)
    next_ms: list[float] = []
    page_ms: list[float] = []
    images_ms: list[float] = []
    warm_s, after_warm_up = _after_warm_up(store, people["Bench reviewer A"])
    with (
        TestClient(create_app(store, warm=False), base_url="http://127.0.0.1") as a,
        TestClient(create_app(store, warm=False), base_url="http://127.0.0.1") as b,
    ):
        ra = a.post(
            "/api/session",
            json={"name": "Bench reviewer A", "password": people["Bench reviewer A"]},
        )
        rb = b.post(
            "/api/session",
            json={"name": "Bench reviewer B", "password": people["Bench reviewer B"]},
        )
        hb = {"X-CSRF-Token": rb.json()["csrf"]}
        assert ra.status_code == rb.status_code == 200
        t = time.perf_counter()
        first = a.get("/api/review/next")
        cold = (time.perf_counter() - t) * 1000
        assert first.status_code == 200, first.text
        for _ in range(args.rounds):
            # a change in the log before each timed call: B enters a figure of their next
            q = b.get("/api/review/next")
            if q.status_code == 200:
                p = q.json()
                f = p["fields"][0]
                b.post(f"/api/review/{p['item']}/{f['key']}", json={"value": 1}, headers=hb)
            t = time.perf_counter()
            r = a.get("/api/review/next")
            next_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json()["fields"], r.text
            p = r.json()
            t = time.perf_counter()
            r = a.get("/w/review")
            page_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
            # what the page then loads: the photo and each figure's crop
            urls = [p["photo_url"], *(f["crop_url"] for f in p["fields"] if f["crop_url"])]
            t = time.perf_counter()
            for url in urls:
                assert a.get(url).status_code == 200, url
            images_ms.append((time.perf_counter() - t) * 1000)
    result = {
        "store": {
            "protocols": protocols,
            "entries": entries,
            "bytes": _size(args.store),
            "built_s": round(built, 1),
        },
        "machine": _machine(),
        "rounds": args.rounds,
        "next_cold_ms": round(cold, 1),
        "warm_up_s": warm_s,
        "next_first_after_warm_up_ms": round(after_warm_up, 1),
        "api_review_next": _stats(next_ms),
        "page_review": _stats(page_ms),
        "photo_and_crops": _stats(images_ms),
        "target_ms": TARGET_MS,
    }
    out = ROOT / "bench" / "out" / "review.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    s, m = result["store"], result["machine"]
    print(
        f"store: {s['protocols']:,} protocols, {s['entries']:,} entries, "
        f"{s['bytes'] / 1e6:.0f} MB (built in {s['built_s']} s)"
    )
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, load {m['load'][0]:.1f}")
    print(f"GET /api/review/next cold (first call, no warm-up): {cold:.0f} ms")
    print(
        f"GET /api/review/next first call once the server's warm-up is done: "
        f"{after_warm_up:.0f} ms (warm-up at start: {warm_s})"
    )
    for name, key in (
        ("GET /api/review/next", "api_review_next"),
        ("GET /w/review", "page_review"),
        ("the photo and every crop, one after another", "photo_and_crops"),
    ):
        st = result[key]
        ok = "ok" if st["p95_ms"] < TARGET_MS else "OVER"
        print(
            f"{name}: median {st['median_ms']} ms, p95 {st['p95_ms']} ms, "
            f"max {st['max_ms']} ms over {args.rounds} rounds ({ok}: target {TARGET_MS:.0f} ms)"
        )


if __name__ == "__main__":
    main()
