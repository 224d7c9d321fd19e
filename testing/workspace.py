"""A store with protocol photos read by the real reader, for the workspace's tests, its
benchmarks and screenshots: handwritten protocols (their figures partly sent to review),
a typed one, and two photos of one precinct with different figures (a possible
substitution)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from ocr.synth.generate import make_sample

ROOT = Path(__file__).resolve().parents[1]
OBSERVER = "870412300416"


def dalel(
    *args: object, timeout: float = 900, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    """Run the CLI; an exit code not in ``ok`` raises with its output."""
    p = subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if p.returncode not in ok:
        raise RuntimeError(f"dalel {' '.join(map(str, args))}: {p.returncode}\n{p.stderr}")
    return p


PHOTOS = (
    # precinct, sample index, seed, script, tier, hand
    ("31", 1, 7301, "handwritten", "photo", "mnist"),
    ("31", 2, 7301, "handwritten", "photo", "mnist"),  # another sheet: different figures
    ("32", 3, 7301, "handwritten", "clean", "font"),
    ("33", 4, 7301, "typed", "clean", "font"),
)


def protocol_store(
    root: Path, photos: tuple[tuple[str, int, int, str, str, str], ...] = PHOTOS
) -> dict[str, dict]:
    """Make a store at ``root`` with ``photos`` handed in and read; the truth of each photo
    by file name."""
    dalel("--store", root, "init", "--org", "Coalition")
    truths: dict[str, dict] = {}
    for precinct, index, seed, script, tier, hand in photos:
        s = make_sample(
            index,
            seed,
            script=script,
            tier=tier,
            hand=hand,
            layout="table",
            adds_up=True,
            precinct=int(precinct),
        )
        inbox = root.parent / f"inbox-{precinct}-{index}"
        inbox.mkdir(parents=True, exist_ok=True)
        name = f"protocol-{precinct}-{index}.{s.ext}"
        (inbox / name).write_bytes(s.image)
        truths[name] = {**s.truth, "sha256": hashlib.sha256(s.image).hexdigest()}
        dalel(
            "--store",
            root,
            "ingest",
            inbox,
            "--observer",
            OBSERVER,
            "--precinct",
            precinct,
            "--kind",
            "protocol",
        )
    dalel("--store", root, "ocr")
    return truths
