"""Upload throughput with one and two intake servers of a national store, side by side (issue 17).

A store of the national kind (its index in PostgreSQL, its objects in SeaweedFS's S3 gateway,
all on 127.0.0.1) keeps observers' uploads in progress in the database and the bucket
(app/upload_parts.py), so several ``dalel serve`` of it take uploads at once: the server in
the store's own folder commits the batches (its sequencer); a server in another folder that
holds only the store's ``config.toml`` and ``keys/`` takes uploads only and answers receipts
from the database (it looks again each second).

- **run A**: one server (the store's own folder);
- **run B**: two servers (the store's own and one "elsewhere"), the phones spread over them
  round-robin, as a proxy would.

Runs alternate A B A B … (``--rounds``) so that the machine's other load touches both alike;
each run has a store of its own (a new folder, database and SeaweedFS server). In each run
``--phones`` simulated phones (the tus client of bench/serve_bench.py: sendfile over one
keep-alive connection) send ``--photos`` photos in all; each photo is sent whole, then its
receipt is awaited (``Prefer: wait=20``, as the phone asks) before the phone's next photo
(``--overlap``: the receipt asked on a second connection while the next photo goes, as
serve_bench does). Figures per run: wall time until the last receipt, photos/s and MB/s,
p50/p95 from a photo's first request to its receipt, the receipt wait alone, the load
average, CPU seconds of each party, and whether every receipt names the photo's SHA-256 and
the log holds one custody entry per photo.

    python bench/intake_bench.py [--phones 50] [--photos 400] [--size-mb 2.9] [--rounds 2]
                                 [--overlap] [--json]

Writes bench/out/intake.json and prints a table and the ratio two servers / one server.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serve_bench import Conn, _ok, again, free_port, meta, patch, photos  # noqa: E402

from app import observers  # noqa: E402
from evidence.storage.store import Store  # noqa: E402
from testing.postgres import PostgresServer  # noqa: E402
from testing.seaweed import SeaweedServer  # noqa: E402

DALEL = [sys.executable, "-m", "cli"]
BUCKET = "dalel-intake-bench"
PRECINCT = "31"

NOTE = (
    "This machine has {cores} cores: PostgreSQL, SeaweedFS, the server(s) with the sequencer "
    "and the simulated phones all share them, over loopback. A second server adds a process "
    "that can use a core, not a core; on a real deployment each intake server would have "
    "machines of its own. The load average is the machine's (other jobs included)."
)


# --- the processes ----------------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, of its children it has waited for, and of its
    living descendants; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = children(pid)
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(tree_cpu(k) for k in kids)


def children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def machine_cpu() -> tuple[int, int, int]:
    """(all, idle, iowait) clock ticks of every core since boot (/proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks), ticks[3], ticks[4]


def postmaster(pg: PostgresServer) -> int:
    return int((pg.folder / "data" / "postmaster.pid").read_text().split()[0])


class Serve:
    """One ``dalel serve`` of the store in ``folder`` (its log beside the folder)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder.parent / f"serve-{folder.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*DALEL, "--store", str(self.folder), "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit(f"the server in {self.folder} did not start: {self.tail()}")

    def health(self) -> dict[str, object]:
        return dict(httpx.get(self.url + "/health", timeout=10).json())

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: it commits what it received, then stops
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the phones -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the phones of one run saw."""

    started: dict[str, float] = field(default_factory=dict)  # upload -> its POST was sent
    sent: dict[str, float] = field(default_factory=dict)  # upload -> its last byte was in
    receipted: dict[str, float] = field(default_factory=dict)  # upload -> its receipt came
    mismatched: list[str] = field(default_factory=list)  # receipts naming another SHA-256
    retries: list[str] = field(default_factory=list)


async def receipt(conn: Conn, loc: str, auth: dict[str, str], sha: str, tally: Tally) -> None:
    """Ask for ``loc``'s receipt until it comes (each question held up to 20 s by the server);
    check that its entry names ``sha``."""
    waiting = {**auth, "Prefer": "wait=20"}
    while True:
        r = await again(partial(conn.request, "GET", loc + "/receipt", waiting), tally.retries)
        if r[0] == 200:
            tally.receipted[loc] = time.perf_counter()
            if json.loads(r[2])["entry"]["item"]["sha256"] != sha:
                tally.mismatched.append(loc)
            return
        _ok(r, 202)


async def phone(
    port: int, token: str, files: list[tuple[Path, str]], overlap: bool, tally: Tally
) -> None:
    """One phone, talking to the server at ``port`` only: its photos one after another on one
    connection; each photo's receipt awaited before the next (``overlap``: asked on a second
    connection while the next photo goes)."""
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    uploads = Conn("127.0.0.1", port)
    receipts = Conn("127.0.0.1", port) if overlap else uploads
    asking: list[asyncio.Task[None]] = []
    for path, sha in files:
        size = path.stat().st_size
        headers = {
            **auth,
            "Upload-Length": str(size),
            "Upload-Metadata": meta(filename=path.name, sha256=sha, kind="protocol"),
        }
        t = time.perf_counter()
        post = partial(uploads.request, "POST", "/api/uploads", headers)
        loc = _ok(await again(post, tally.retries), 201)[1]["location"]
        tally.started[loc] = t
        await patch(uploads, loc, auth, path, size, tally.retries)
        tally.sent[loc] = time.perf_counter()
        if overlap:  # one question at a time on the second connection, in order
            before = asking[-1] if asking else None

            async def ask(loc: str = loc, sha: str = sha, before: object = before) -> None:
                if isinstance(before, asyncio.Task):
                    await before
                await receipt(receipts, loc, auth, sha, tally)

            asking.append(asyncio.create_task(ask()))
        else:
            await receipt(receipts, loc, auth, sha, tally)
    await asyncio.gather(*asking)
    uploads.close()
    receipts.close()


async def load_sampler(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(os.getloadavg()[0])
        try:
            await asyncio.wait_for(stop.wait(), 2.0)
        except TimeoutError:
            pass


async def send_all(
    ports: list[int],
    tokens: list[str],
    files: list[tuple[Path, str]],
    overlap: bool,
    tally: Tally,
    load: list[float],
) -> float:
    """Every phone at once, phone ``i`` on server ``i mod len(ports)``; the wall time."""
    shares = [files[i :: len(tokens)] for i in range(len(tokens))]
    stop = asyncio.Event()
    sampler = asyncio.create_task(load_sampler(load, stop))
    start = time.perf_counter()
    await asyncio.gather(
        *(
            phone(ports[i % len(ports)], token, share, overlap, tally)
            for i, (token, share) in enumerate(zip(tokens, shares, strict=True))
        )
    )
    seconds = time.perf_counter() - start
    stop.set()
    await sampler
    return seconds


# --- one run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run's figures."""

    label: str  # "A" (one server) or "B" (two)
    round: int
    servers: int
    seconds: float  # first request to last receipt
    photos_per_s: float
    mb_per_s: float
    p50_s: float  # a photo's first request to its receipt
    p95_s: float
    receipt_wait_p50_s: float  # its last byte to its receipt
    receipt_wait_p95_s: float
    load_before: float  # 1-minute load average
    load_mean: float  # mean of the 1-minute load average sampled every 2 s
    load_max: float
    cpu_s: dict[str, float]  # CPU seconds of each party during the sending
    ours: float  # their sum, as a share of all cores' time
    machine_busy: float  # share of all cores' time busy during the sending (other jobs too)
    machine_iowait: float  # share of all cores' time waiting for the disk
    receipts: int
    mismatched: int  # receipts whose entry names another SHA-256
    entries: int  # custody entries of an upload in the log
    distinct: int  # of distinct uploads
    retries: int
    health: list[dict[str, object]]  # each server's /health after the run


def pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[max(0, int(len(sorted_values) * q + 0.5) - 1)]


def one_run(
    label: str,
    rnd: int,
    servers: int,
    pg: PostgresServer,
    files: list[tuple[Path, str]],
    args: argparse.Namespace,
    work: Path,
) -> Run:
    """A new store (folder, database, SeaweedFS server), ``servers`` servers of it, every phone
    sending; the figures."""
    folder = work / f"run-{rnd}{label}"
    folder.mkdir()
    s3 = SeaweedServer.start()
    db = pg.create_database()
    env = {**os.environ, "PGPASSWORD": pg.password, **s3.environ()}
    os.environ.update(env)  # (for the invites, made here)
    started: list[Serve] = []
    try:
        store = folder / "store"
        made = subprocess.run(
            [
                *DALEL,
                "--store",
                str(store),
                "init",
                "--org",
                "Bench",
                "--db",
                db,
                "--objects",
                f"s3://{BUCKET}/{folder.name}",
                "--retain-days",
                "1",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise SystemExit(f"dalel init failed: {made.stderr[-2000:]}")
        s = Store.open(store)
        tokens = [observers.invite(s, PRECINCT).token for _ in range(args.phones)]
        folders = [store]
        if servers == 2:
            far = folder / "elsewhere"  # as on another machine: config.toml and keys only
            far.mkdir()
            shutil.copy(store / "config.toml", far / "config.toml")
            shutil.copytree(store / "keys", far / "keys")
            folders.append(far)
        for f in folders:
            started.append(Serve(f, env).start())
        if servers == 2:
            said = started[1].health()["sequencer"]
            assert str(said).startswith("on the server"), f"not intake-only: {said}"
        parties = {f"server{i + 1}": srv.proc.pid for i, srv in enumerate(started) if srv.proc}
        sequencer = children(parties["server1"])
        assert len(sequencer) == 1, f"the store's own server has one sequencer: {sequencer}"
        parties |= {"sequencer": sequencer[0], "postgres": postmaster(pg)}
        parties |= {"seaweedfs": s3.process.pid}
        cpu0 = {k: tree_cpu(p) for k, p in parties.items()}
        phones0 = time.process_time()
        machine0 = machine_cpu()
        tally = Tally()
        load: list[float] = []
        load_before = os.getloadavg()[0]
        seconds = asyncio.run(
            send_all([srv.port for srv in started], tokens, files, args.overlap, tally, load)
        )
        machine = [b - a for a, b in zip(machine0, machine_cpu(), strict=True)]
        cpu = {k: tree_cpu(p) - cpu0[k] for k, p in parties.items()}
        cpu["server1"] -= cpu["sequencer"]  # (its child: counted once, on its own)
        cpu = {k: round(v, 1) for k, v in cpu.items()}
        cpu["phones"] = round(time.process_time() - phones0, 1)
        health = [srv.health() for srv in started]
    except BaseException:
        for srv in started:
            print(f"--- {srv.log.name}\n{srv.tail()}", file=sys.stderr)
        raise
    finally:
        for srv in started:
            srv.stop()
    try:
        s = Store.open(store)
        s.index.catch_up()
        channels = [
            e.get("channel") for e in s.index.entries_by_event("ingest") if e.get("channel")
        ]
    finally:
        s3.stop()
        pg.drop_database(db)
        shutil.rmtree(folder, ignore_errors=True)
    total = sum(p.stat().st_size for p, _ in files) / 1024**2
    whole = sorted(tally.receipted[k] - tally.started[k] for k in tally.receipted)
    waits = sorted(tally.receipted[k] - tally.sent[k] for k in tally.receipted)
    return Run(
        label=label,
        round=rnd,
        servers=servers,
        seconds=round(seconds, 2),
        photos_per_s=round(len(files) / seconds, 2),
        mb_per_s=round(total / seconds, 1),
        p50_s=round(pct(whole, 0.50), 2),
        p95_s=round(pct(whole, 0.95), 2),
        receipt_wait_p50_s=round(pct(waits, 0.50), 2),
        receipt_wait_p95_s=round(pct(waits, 0.95), 2),
        load_before=round(load_before, 2),
        load_mean=round(statistics.fmean(load), 2) if load else float("nan"),
        load_max=round(max(load), 2) if load else float("nan"),
        cpu_s=cpu,
        ours=round(sum(cpu.values()) / (machine[0] / os.sysconf("SC_CLK_TCK")), 2),
        machine_busy=round((machine[0] - machine[1] - machine[2]) / machine[0], 2),
        machine_iowait=round(machine[2] / machine[0], 2),
        receipts=len(tally.receipted),
        mismatched=len(tally.mismatched),
        entries=len(channels),
        distinct=len(set(channels)),
        retries=len(tally.retries),
        health=health,
    )


# --- the report -------------------------------------------------------------------------------


def table(runs: list[Run]) -> str:
    head = (
        f"{'run':5} {'srv':>3} {'seconds':>8} {'photo/s':>8} {'MB/s':>6} {'p50 s':>6} "
        f"{'p95 s':>6} {'rcpt p50':>8} {'rcpt p95':>8} {'load':>10} {'ok':>9} {'retry':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in runs:
        ok = f"{r.receipts - r.mismatched}/{r.distinct}"
        lines.append(
            f"{r.round}{r.label:4} {r.servers:>3} {r.seconds:>8.1f} {r.photos_per_s:>8.2f} "
            f"{r.mb_per_s:>6.1f} {r.p50_s:>6.2f} {r.p95_s:>6.2f} {r.receipt_wait_p50_s:>8.2f} "
            f"{r.receipt_wait_p95_s:>8.2f} {f'{r.load_mean:.1f}/{r.load_max:.1f}':>10} "
            f"{ok:>9} {r.retries:>5}"
        )
    lines.append("")
    lines.append("CPU seconds during the sending:")
    for r in runs:
        lines.append(
            f"  {r.round}{r.label}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_s.items())
            + f"; this benchmark {r.ours:.0%} of all cores' time, all cores busy"
            + f" {r.machine_busy:.0%}, iowait {r.machine_iowait:.0%}"
            + f" (of {r.seconds * (os.cpu_count() or 1):.0f} core-seconds)"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phones", type=int, default=50)
    ap.add_argument("--photos", type=int, default=400, help="in all, spread over the phones")
    ap.add_argument("--size-mb", type=float, default=2.9)
    ap.add_argument("--rounds", type=int, default=2, help="A B pairs, alternated")
    ap.add_argument(
        "--overlap",
        action="store_true",
        help="ask each receipt on a second connection while the next photo goes",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs: list[Run] = []
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dalel-intake-bench-") as tmp:
        work = Path(tmp)
        made = photos(work / "photos", args.photos, args.size_mb)
        files = [(p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in made]
        size = sum(p.stat().st_size for p in made) / len(made) / 1024**2
        with PostgresServer.start(durable=True) as pg:
            for rnd in range(1, args.rounds + 1):
                for label, servers in (("A", 1), ("B", 2)):
                    print(f"round {rnd}, run {label}: {servers} server(s)…", file=sys.stderr)
                    run = one_run(label, rnd, servers, pg, files, args, work)
                    print(
                        f"  {run.seconds:.1f} s, {run.photos_per_s:.2f} photos/s, "
                        f"load {run.load_mean:.1f}",
                        file=sys.stderr,
                    )
                    runs.append(run)
    a = [r for r in runs if r.servers == 1]
    b = [r for r in runs if r.servers == 2]
    per_round = [round(rb.photos_per_s / ra.photos_per_s, 2) for ra, rb in zip(a, b, strict=True)]
    ratio = round(sum(r.photos_per_s for r in b) / sum(r.photos_per_s for r in a), 2)
    good = all(
        r.receipts == args.photos
        and r.mismatched == 0
        and r.entries == args.photos
        and r.distinct == args.photos
        for r in runs
    )
    result = {
        "settings": {
            "phones": args.phones,
            "photos": args.photos,
            "photo_mb": round(size, 2),
            "rounds": args.rounds,
            "receipts": "overlapped" if args.overlap else "awaited before the next photo",
            "postgres": "durable (fsync, synchronous commit)",
            "cores": os.cpu_count(),
            "load_at_start": [round(x, 2) for x in load_at_start],
        },
        "runs": [asdict(r) for r in runs],
        "ratio_two_to_one": ratio,
        "ratio_per_round": per_round,
        "all_receipted_and_matching": good,
        "note": NOTE.format(cores=os.cpu_count()),
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "intake.json").write_text(json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        s = result["settings"]
        print(
            f"{args.phones} phones, {args.photos} photos of {s['photo_mb']} MB "  # type: ignore[index]
            f"({s['receipts']}), {args.rounds} round(s) A B; "  # type: ignore[index]
            f"load average at start {s['load_at_start']}"  # type: ignore[index]
        )
        print(table(runs))
        print()
        print(f"ratio two servers / one server (photos/s): {ratio}  per round: {per_round}")
        print(f"every receipt in and naming its photo, one entry each: {good}")
        print()
        print("Note: " + result["note"])  # type: ignore[operator]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
