"""Benchmark: a signed court dossier with 50 photo exhibits (target: < 15 s, < 1 GB).

    .venv/bin/python bench/dossier_bench.py [--photos 50] [--width 2592 --height 1944]
                                            [--edition court] [--lang ru] [--json]

Inputs (synthetic protocol photos, an organization identity, a local TSA) are made
before the clock starts; the timed part is what ``dalel dossier build`` does: render,
embed the originals, sign PAdES B-T, write atomically. Peak memory is the highest
resident set size of this process sampled every 10 ms during the build. The CPU time
(user + system, all threads) and the 1-minute load average are printed too: on a shared
machine the wall time depends on what else runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.deadlines import load_jurisdiction
from app.dossier.build import build_dossier
from evidence.pdf.sign import CallableTimeStamper, create_org_identity, load_org_identity
from evidence.pdf.verify import verify_dossier
from testing.dossier_sample import sample_dossier, sample_tsa


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` after ``stop()``."""

    def __init__(self, interval: float = 0.01) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def start(self) -> PeakRss:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self.peak


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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    juris = load_jurisdiction()
    with tempfile.TemporaryDirectory(prefix="dalel-bench-") as tmp:
        tmpdir = Path(tmp)
        t0 = time.perf_counter()
        create_org_identity(tmpdir / "keys", tmpdir / "public", "Bench organization")
        identity = load_org_identity(tmpdir / "keys", tmpdir / "public")
        tsa, tsa_pem = sample_tsa()
        dossier = sample_dossier(
            juris,
            language=args.lang,
            edition=args.edition,
            photos=args.photos,
            photo_size=(args.width, args.height),
            photo_noise=args.noise,
            today=date(2026, 11, 20),
            custody_rows=6,
        )
        input_bytes = sum(len(e.content or b"") for e in dossier.exhibits)
        prep_s = time.perf_counter() - t0

        out = tmpdir / "dossier.pdf"
        baseline = psutil.Process().memory_info().rss
        sampler = PeakRss().start()
        t1 = time.perf_counter()
        cpu1 = psutil.Process().cpu_times()
        result = build_dossier(
            dossier, out, identity=identity, timestamper=CallableTimeStamper(tsa)
        )
        build_s = time.perf_counter() - t1
        cpu2 = psutil.Process().cpu_times()
        build_cpu_s = (cpu2.user - cpu1.user) + (cpu2.system - cpu1.system)
        peak = sampler.stop()

        ca = (tmpdir / "public" / "org-ca-cert.pem").read_bytes()
        t2 = time.perf_counter()
        report = verify_dossier(out.read_bytes(), [ca], tsa_certs=[tsa_pem])
        verify_s = time.perf_counter() - t2
        figures = {
            "photos": args.photos,
            "photo_px": f"{args.width}x{args.height}",
            "noise": args.noise,
            "edition": args.edition,
            "language": args.lang,
            "input_mb": round(input_bytes / 2**20, 1),
            "prepare_inputs_s": round(prep_s, 2),
            "build_s": round(build_s, 2),
            "build_cpu_s": round(build_cpu_s, 2),
            "load_avg_1min": round(psutil.getloadavg()[0], 2),
            "peak_rss_mb": round(peak / 2**20, 1),
            "rss_before_build_mb": round(baseline / 2**20, 1),
            "pdf_mb": round(result.size / 2**20, 1),
            "pdf_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
            "verify_s": round(verify_s, 2),
            "verified": report.ok,
            "target_met": build_s < 15 and peak < 2**30,
        }
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")
    return 0 if figures["verified"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
