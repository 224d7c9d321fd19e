"""Observers uploading at once against `dalel ingest` of the same files, side by side.

N simulated observers (an async tus client, one invite each) upload the photos over loopback
to a real `dalel serve`; the same photos are handed to `dalel ingest` in a fresh store in the
same run. Figures:

- **throughput ratio**: files per second through the server (first upload to last receipt)
  divided by files per second through `dalel ingest` (target at least 0.7);
- **upload complete to receipt**: p50 and p95 (target p95 under 5 s);
- **the server's peak RSS** (VmHWM);
- **nothing lost**: every file has exactly one custody entry naming its upload, and `audit`
  passes;
- **retries**: requests tried again after a cut connection (as the phone's tus client does).

    python bench/serve_bench.py [--observers 200] [--photos 2000] [--size-mb 3] [--json]

Writes bench/out/serve.json and prints a table; the README quotes it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import observers  # noqa: E402
from evidence.storage.store import Store  # noqa: E402

DALEL = [sys.executable, "-m", "cli"]


def photos(folder: Path, n: int, size_mb: float) -> list[Path]:
    """``n`` distinct JPEG photos of about ``size_mb`` MB (a noisy picture, each made unique
    by bytes after its end-of-image marker, which every reader ignores)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    side = int((size_mb * 1024 * 1024 / 1.23 / 1.5) ** 0.5)  # noise costs ~1.23 bytes a pixel
    base = io.BytesIO()
    noise = rng.integers(0, 255, (side, int(side * 1.5), 3), dtype=np.uint8)
    Image.fromarray(noise).save(base, format="JPEG", quality=95)
    data = base.getvalue()
    out = []
    for i in range(n):
        p = folder / f"protocol-{i:05d}.jpg"
        p.write_bytes(data + f"dalel-bench-{i}".encode())
        out.append(p)
    return out


def run(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([*DALEL, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode not in (0,):
        raise SystemExit(f"dalel {args[2:4]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


RETRY_DELAYS = (0.0, 1.0, 3.0, 5.0, 10.0)
"""A cut connection is tried again, as the phone's tus client does (web/static/phone/app.js);
every retry is counted in the figures."""


async def again(
    send: Callable[[], Awaitable[httpx.Response]], retries: list[str]
) -> httpx.Response:
    for delay in (*RETRY_DELAYS, None):
        try:
            return await send()
        except httpx.TransportError as e:
            if delay is None:
                raise
            retries.append(type(e).__name__)
            print(f"retrying after {type(e).__name__}", file=sys.stderr)
            await asyncio.sleep(delay)
    raise AssertionError


async def patch(
    client: httpx.AsyncClient, url: str, auth: dict[str, str], data: bytes, retries: list[str]
) -> None:
    """Every byte of ``data`` to the upload at ``url``; after a cut connection, from where the
    server is (tus HEAD)."""
    cut = False

    async def send() -> httpx.Response:
        nonlocal cut
        at = 0
        if cut:
            h = await client.head(url, headers=auth)
            h.raise_for_status()
            at = int(h.headers["Upload-Offset"])
            if at == len(data):
                return h
        cut = True  # until this PATCH is answered
        r = await client.patch(
            url,
            headers={
                **auth,
                "Upload-Offset": str(at),
                "Content-Type": "application/offset+octet-stream",
            },
            content=data[at:],
        )
        cut = False
        return r

    (await again(send, retries)).raise_for_status()


async def observer(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    files: list[Path],
    done: dict[str, float],
    receipted: dict[str, float],
    retries: list[str],
) -> None:
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    locations = []
    for path in files:
        data = path.read_bytes()
        headers = {
            **auth,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta(
                filename=path.name, sha256=hashlib.sha256(data).hexdigest(), kind="protocol"
            ),
        }
        r = await again(partial(client.post, url + "/api/uploads", headers=headers), retries)
        r.raise_for_status()
        loc = r.headers["Location"]
        await patch(client, url + loc, auth, data, retries)
        done[loc] = time.perf_counter()
        locations.append(loc)
    for loc in locations:
        while True:
            r = await again(partial(client.get, url + loc + "/receipt", headers=auth), retries)
            if r.status_code == 200:
                receipted[loc] = time.perf_counter()
                break
            if r.status_code != 202:
                raise SystemExit(f"upload {loc} ended with {r.status_code}: {r.text}")
            await asyncio.sleep(0.25)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def upload_all(url: str, tokens: list[str], files: list[Path]) -> dict[str, object]:
    done: dict[str, float] = {}
    receipted: dict[str, float] = {}
    retries: list[str] = []
    shares = [files[i :: len(tokens)] for i in range(len(tokens))]
    # An idle connection is dropped well before uvicorn's 5 s keep-alive timeout: at httpx's
    # default (also 5 s) a request can go out on a connection the server is closing (ReadError).
    limits = httpx.Limits(
        max_connections=len(tokens), max_keepalive_connections=len(tokens), keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                observer(client, url, token, share, done, receipted, retries)
                for token, share in zip(tokens, shares, strict=True)
            )
        )
        end = time.perf_counter()
    waits = sorted(receipted[loc] - done[loc] for loc in done)
    return {
        "seconds": end - start,
        "p50": statistics.median(waits),
        "p95": waits[max(0, int(len(waits) * 0.95) - 1)],
        "uploads": len(done),
        "retries": len(retries),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observers", type=int, default=200)
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--size-mb", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dalel-serve-bench-") as tmp:
        work = Path(tmp)
        files = photos(work / "photos", args.photos, args.size_mb)
        size = sum(p.stat().st_size for p in files) / len(files) / 1024**2

        ingest_store = work / "ingest-store"
        run("--store", ingest_store, "init")
        t = time.perf_counter()
        run(
            "--store",
            ingest_store,
            "ingest",
            work / "photos",
            "--observer",
            "obs-bench",
            "--precinct",
            "1",
            "--kind",
            "protocol",
        )
        ingest_s = time.perf_counter() - t

        store = work / "serve-store"
        run("--store", store, "init")
        s = Store.open(store)
        tokens = [observers.invite(s, "1").token for _ in range(args.observers)]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*DALEL, "--store", str(store), "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            served = asyncio.run(upload_all(url, tokens, files))
            rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=120)
        s = Store.open(store)
        s.index.catch_up()
        channels = [
            e.get("channel") for e in s.index.entries_by_event("ingest") if e.get("channel")
        ]
        audit = run("--store", store, "audit", check=False).returncode
        result = {
            "observers": args.observers,
            "photos": args.photos,
            "photo_mb": round(size, 2),
            "ingest_seconds": round(ingest_s, 2),
            "serve_seconds": round(float(served["seconds"]), 2),  # type: ignore[arg-type]
            "throughput_ratio": round(ingest_s / float(served["seconds"]), 2),  # type: ignore[arg-type]
            "receipt_p50_s": round(float(served["p50"]), 2),  # type: ignore[arg-type]
            "receipt_p95_s": round(float(served["p95"]), 2),  # type: ignore[arg-type]
            "server_peak_rss_mb": round(rss, 1),
            "retries": served["retries"],
            "entries": len(channels),
            "distinct": len(set(channels)),
            "audit_exit": audit,
            "cores": os.cpu_count(),
        }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:22} {v}")
    lost = result["entries"] != args.photos or result["distinct"] != args.photos or audit != 0
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
