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
import resource
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


def photos(folder: Path, n: int, size_mb: float, tag: str = "protocol") -> list[Path]:
    """``n`` distinct JPEG photos of about ``size_mb`` MB (a noisy picture, each made unique
    by bytes after its end-of-image marker, which every reader ignores); ``tag`` names them
    and keeps sets made for different purposes apart."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    side = int((size_mb * 1024 * 1024 / 1.23 / 1.5) ** 0.5)  # noise costs ~1.23 bytes a pixel
    base = io.BytesIO()
    noise = rng.integers(0, 255, (side, int(side * 1.5), 3), dtype=np.uint8)
    Image.fromarray(noise).save(base, format="JPEG", quality=95)
    data = base.getvalue()
    out = []
    for i in range(n):
        p = folder / f"{tag}-{i:05d}.jpg"
        p.write_bytes(data + f"dalel-bench-{tag}-{i}".encode())
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


class Cut(Exception):
    """The connection was cut (or the server closed it) before an answer came."""


class Conn:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be: the simulated phones
    share the server's two cores, so a file's bytes go from the page cache to the socket by
    ``sendfile`` and the client costs the machine little besides the kernel's copy."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: tuple[Path, int, int] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request; ``body``: (file, offset, count) sent with
        sendfile. Cut on any connection error (the caller retries)."""
        try:
            if self.writer is None or self.writer.is_closing():
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            count = body[2] if body else 0
            lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            lines.append(f"Content-Length: {count}")
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            if body:
                with open(body[0], "rb") as f:
                    await asyncio.get_running_loop().sendfile(
                        self.writer.transport, f, body[1], count
                    )
            await self.writer.drain()
            status = int((await self.reader.readuntil(b"\r\n")).split()[1])
            got: dict[str, str] = {}
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                k, _, v = line.decode("latin-1").partition(":")
                got[k.strip().lower()] = v.strip()
            data = await self.reader.readexactly(int(got.get("content-length", "0")))
            if got.get("connection", "").lower() == "close":
                self.close()
            return status, got, data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError) as e:
            self.close()
            raise Cut(type(e).__name__) from e

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def again(
    send: Callable[[], Awaitable[tuple[int, dict[str, str], bytes]]], retries: list[str]
) -> tuple[int, dict[str, str], bytes]:
    for delay in (*RETRY_DELAYS, None):
        try:
            return await send()
        except Cut as e:
            if delay is None:
                raise
            retries.append(str(e))
            print(f"retrying after {e}", file=sys.stderr)
            await asyncio.sleep(delay)
    raise AssertionError


def _ok(answer: tuple[int, dict[str, str], bytes], *want: int) -> tuple[int, dict[str, str], bytes]:
    if answer[0] not in want:
        raise SystemExit(f"answered {answer[0]}: {answer[2][:300]!r}")
    return answer


async def patch(
    conn: Conn, loc: str, auth: dict[str, str], path: Path, size: int, retries: list[str]
) -> None:
    """Every byte of ``path`` to the upload at ``loc``; after a cut connection, from where
    the server is (tus HEAD)."""
    cut = False

    async def send() -> tuple[int, dict[str, str], bytes]:
        nonlocal cut
        at = 0
        if cut:
            h = _ok(await conn.request("HEAD", loc, auth), 200)
            at = int(h[1]["upload-offset"])
            if at == size:
                return h
        cut = True  # until this PATCH is answered
        headers = {
            **auth,
            "Upload-Offset": str(at),
            "Content-Type": "application/offset+octet-stream",
        }
        r = await conn.request("PATCH", loc, headers, (path, at, size - at))
        cut = False
        return r

    _ok(await again(send, retries), 204, 200)


async def observer(
    host: str,
    port: int,
    token: str,
    files: list[tuple[Path, str]],
    done: dict[str, float],
    receipted: dict[str, float],
    retries: list[str],
) -> None:
    """One phone: its files one after another on one connection, each file's receipt asked
    for on a second connection as soon as the file is in (``Prefer: wait``, as the phone
    asks: answered when the file's batch is committed)."""
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    waiting = {**auth, "Prefer": "wait=20"}
    uploads, receipts = Conn(host, port), Conn(host, port)
    complete: asyncio.Queue[str | None] = asyncio.Queue()

    async def ask_receipts() -> None:
        while (loc := await complete.get()) is not None:
            while True:
                r = await again(
                    partial(receipts.request, "GET", loc + "/receipt", waiting), retries
                )
                if r[0] == 200:
                    receipted[loc] = time.perf_counter()
                    break
                _ok(r, 202)

    asking = asyncio.create_task(ask_receipts())
    for path, sha in files:
        size = path.stat().st_size
        headers = {
            **auth,
            "Upload-Length": str(size),
            "Upload-Metadata": meta(filename=path.name, sha256=sha, kind="protocol"),
        }
        r = _ok(
            await again(partial(uploads.request, "POST", "/api/uploads", headers), retries), 201
        )
        loc = r[1]["location"]
        await patch(uploads, loc, auth, path, size, retries)
        done[loc] = time.perf_counter()
        complete.put_nowait(loc)
    complete.put_nowait(None)
    await asking
    uploads.close()
    receipts.close()


def family(pid: int) -> list[int]:
    """``pid`` and its children (the server and its sequencer)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [pid, *kids]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def upload_all(
    host: str, port: int, tokens: list[str], files: list[tuple[Path, str]]
) -> dict[str, object]:
    done: dict[str, float] = {}
    receipted: dict[str, float] = {}
    retries: list[str] = []
    shares = [files[i :: len(tokens)] for i in range(len(tokens))]
    start = time.perf_counter()
    await asyncio.gather(
        *(
            observer(host, port, token, share, done, receipted, retries)
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
        # A phone hashes each file when it is taken, long before it is sent.
        hashed = [(p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]

        ingest_store = work / "ingest-store"
        run("--store", ingest_store, "init")
        t = time.perf_counter()
        ingest_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
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
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        ingest_cpu_s = after.ru_utime + after.ru_stime - ingest_cpu.ru_utime - ingest_cpu.ru_stime

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
            pids = family(server.pid)
            assert len(pids) == 2, "the server and its sequencer"
            server_cpu = sum(map(cpu_seconds, pids))
            client_cpu = time.process_time()
            served = asyncio.run(upload_all("127.0.0.1", port, tokens, hashed))
            client_cpu = time.process_time() - client_cpu
            assert family(server.pid) == pids, "the sequencer was started again"
            server_cpu = sum(map(cpu_seconds, pids)) - server_cpu
            rss = peak_rss_mb(pids[0])
            rss_sequencer = peak_rss_mb(pids[1])
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
            "sequencer_peak_rss_mb": round(rss_sequencer, 1),
            "ingest_cpu_s": round(ingest_cpu_s, 1),
            "server_cpu_s": round(server_cpu, 1),  # the server and its sequencer
            "client_cpu_s": round(client_cpu, 1),  # the simulated phones, on the same 2 cores
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
