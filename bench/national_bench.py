"""National scale (issue 17): the log integrating entries with its index in PostgreSQL, against
the SQLite default, side by side.

Two stores are made: the embedded default (index in ``index.sqlite``) and one made with
``dalel init --db`` (index in a real PostgreSQL server this benchmark starts in a temporary
folder, bound to 127.0.0.1: Debian's server, ``fsync`` on, as in production). Into each, ingest
entries (the entry a received photo gets: its object stored, its observer, precinct and
metadata) are appended through the store's writer and committed in batches of ``--batch``,
as the sequencer integrates what intake servers hand it: each commit makes the entries
durable, signs a checkpoint, writes the receipts owed, stamps the checkpoint with the local
TSA and brings the index up to date (the PostgreSQL store also moves the log's head in the
database, :mod:`evidence.storage.headlock`); before it, each item's RFC 3161 token from the
local TSA is recorded in one entry, as the pipeline's timestamp stage does. The two stores
take their chunks in turn (``--chunk`` entries each, A B A B ...), so that the machine's load
touches both alike.

Figures: entries per second for each (the median over chunks, and overall), the ratio
PostgreSQL / SQLite, the commit's median time, and the index's size on disk per entry
(``index.sqlite``; ``pg_database_size``). Then one ``dalel audit`` of each store
(every object re-hashed, every receipt and token checked), timed.

    python bench/national_bench.py [--entries 500000] [--chunk 50000] [--batch 1000] [--json]

Writes bench/out/national.json and prints a table.
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
sys.path.insert(0, str(ROOT))

from evidence.core import events  # noqa: E402
from evidence.provision import init_store  # noqa: E402
from evidence.storage.store import Store  # noqa: E402
from evidence.timestamping import stamping  # noqa: E402
from pipeline import hooks  # noqa: E402
from testing.postgres import PostgresServer  # noqa: E402


def entry(store: Store, i: int) -> dict:
    """An ingest entry of the shape intake writes, its object stored."""
    stored = store.objects.put_bytes(f"photo {i} {time.perf_counter_ns()}".encode())
    return {
        "event": events.INGEST,
        "actor": {"role": "observer", "id": f"obs-{i % 5000:04d}"},
        "item": {"sha256": stored.sha256, "size": stored.size, "media_type": "image/jpeg"},
        "name": f"IMG_{i:06d}.jpg",
        "path": f"IMG_{i:06d}.jpg",
        "precinct": str(1 + i % 10_000),
        "kind": "protocol",
        "metadata": {"flags": []},
    }


def chunk(store: Store, start: int, n: int, batch: int) -> tuple[float, list[float]]:
    """Append ``n`` entries in commits of ``batch``; wall seconds and each commit's."""
    commits: list[float] = []
    t = time.perf_counter()
    queued: list[tuple[str, str]] = []
    with store.writer() as w:
        for i in range(start, start + n):
            e = entry(store, i)
            w.append(e)
            queued.append((e["item"]["sha256"], "item"))
            if (i - start + 1) % batch == 0 or i == start + n - 1:
                c = time.perf_counter()
                stamping.stamp(w, queued)  # each item's token, one entry (the pipeline's)
                queued = []
                w.commit()
                commits.append(time.perf_counter() - c)
    return time.perf_counter() - t, commits


def audit(root: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--store", root, "audit"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"audit of {root} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - t


def pg_size(pg: PostgresServer, database: str) -> int:
    """The database's size on disk, tables and indexes (``pg_database_size``)."""
    import psycopg

    with psycopg.connect(pg.dsn(database)) as c:
        row = c.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dalel-national-"))
    started = time.perf_counter()
    with PostgresServer.start(durable=True) as pg:
        os.environ["PGPASSWORD"] = pg.password
        stores = {
            "sqlite": hooks.attach(init_store(work / "sqlite", org="bench")),
            "postgresql": hooks.attach(
                init_store(work / "pg", org="bench", db=pg.create_database("national"))
            ),
        }
        rates: dict[str, list[float]] = {k: [] for k in stores}
        commits: dict[str, list[float]] = {k: [] for k in stores}
        total: dict[str, float] = dict.fromkeys(stores, 0.0)
        done = 0
        while done < args.entries:
            n = min(args.chunk, args.entries - done)
            order = list(stores) if (done // args.chunk) % 2 == 0 else list(reversed(stores))
            for name in order:
                wall, each = chunk(stores[name], done, n, args.batch)
                rates[name].append(n / wall)
                commits[name].extend(each)
                total[name] += wall
                print(
                    f"{name:10} entries {done:>7}-{done + n:<7} {n / wall:8.0f}/s", file=sys.stderr
                )
            done += n
        audits = {name: audit(s.root, dict(os.environ)) for name, s in stores.items()}
        sizes = {
            "sqlite": (work / "sqlite" / "index.sqlite").stat().st_size,
            "postgresql": pg_size(pg, "national"),
        }
    result = {
        "entries": args.entries,
        "batch": args.batch,
        "entries_per_s_median": {k: round(statistics.median(v)) for k, v in rates.items()},
        "entries_per_s_overall": {k: round(args.entries / total[k]) for k in stores},
        "commit_ms_median": {k: round(statistics.median(v) * 1000, 1) for k, v in commits.items()},
        "ratio_postgresql_to_sqlite": round(
            statistics.median(rates["postgresql"]) / statistics.median(rates["sqlite"]), 3
        ),
        "audit_seconds": {k: round(v, 1) for k, v in audits.items()},
        "index_bytes_per_entry": {k: round(v / args.entries) for k, v in sizes.items()},
        "load_average": os.getloadavg()[0],
        "run_seconds": round(time.perf_counter() - started),
    }
    out = ROOT / "bench" / "out" / "national.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"log integration, {args.entries:,} ingest entries in commits of {args.batch}:\n"
            f"  SQLite      {result['entries_per_s_median']['sqlite']:>7,}/s (median of chunks),"
            f" commit {result['commit_ms_median']['sqlite']} ms\n"
            f"  PostgreSQL  {result['entries_per_s_median']['postgresql']:>7,}/s,"
            f" commit {result['commit_ms_median']['postgresql']} ms\n"
            f"  ratio PostgreSQL/SQLite {result['ratio_postgresql_to_sqlite']}\n"
            f"  audit (every object re-hashed): SQLite {result['audit_seconds']['sqlite']} s,"
            f" PostgreSQL {result['audit_seconds']['postgresql']} s\n"
            f"  index on disk per entry: SQLite {result['index_bytes_per_entry']['sqlite']} B,"
            f" PostgreSQL {result['index_bytes_per_entry']['postgresql']} B"
        )
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
