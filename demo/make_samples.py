"""Write the demo's sample evidence: ``python demo/make_samples.py DIR``.

Everything is made by the project's own generators, deterministically:
- protocol photos (``ocr.synth``) for precincts 12 (two photos of one protocol, typed),
  47 (handwritten) and 63 (typed; the official results published for it differ);
- violation photos: one with a bystander's face (scikit-image's bundled public-domain NASA
  portrait, so that face blurring has a real face to find), one sent through a messenger
  (no metadata), one edited (editing software in its EXIF), one damaged (cut short);
- a short video of the count (ffmpeg);
- ``manifest.csv`` (file, observer, precinct, kind, channel, note) in the inbox, and beside
  it ``official.csv`` (the official results) and ``truth/`` (what each protocol says).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr.synth.generate import make_sample
from testing.samples import EDITOR_SOFTWARE, PhotoExif, write_jpeg, write_mp4, write_truncated_jpeg

MANIFEST_COLUMNS = ("file", "observer", "precinct", "kind", "channel", "note")
#: precinct -> (sample index, script, tier) of each protocol photo
PROTOCOLS = {
    "12": [(1, "typed", "photo"), (1, "typed", "clean")],
    "47": [(2, "handwritten", "clean")],
    "63": [(3, "typed", "photo")],
}
#: In precinct 63 the official results give AMANAT this many votes fewer than the protocol.
OFFICIAL_SHIFT = ("63", "amanat", -120)


def make_samples(out: Path, seed: int = 2026) -> Path:
    """Write the inbox (returned) and, beside it, official.csv and truth/."""
    inbox = out / "inbox"
    truth_dir = out / "truth"
    inbox.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(exist_ok=True)
    rows: list[tuple[str, ...]] = []
    official: list[tuple[str, str, int]] = []
    for precinct, photos in PROTOCOLS.items():
        truth: dict = {}
        for n, (index, script, tier) in enumerate(photos, start=1):
            s = make_sample(
                index,
                seed,
                tier=tier,
                script=script,
                layout="table",
                adds_up=True,
                precinct=int(precinct),  # the sheet names the precinct it is filed under
            )
            name = f"хаттама_{precinct}_{n}.{s.ext}"
            (inbox / name).write_bytes(s.image)
            truth = s.truth
            (truth_dir / f"{name}.json").write_text(
                json.dumps(s.truth, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            rows.append(
                (
                    name,
                    "870412300416",
                    precinct,
                    "protocol",
                    "in-person",
                    "copy of the result protocol handed to the observer",
                )
            )
        for key, value in truth["figures"].items():
            if (precinct, key) == OFFICIAL_SHIFT[:2]:
                value = int(value) + OFFICIAL_SHIFT[2]
            official.append((precinct, key, int(value)))
    face = inbox / "бөгде_адам_урна_жанында.png"
    face.write_bytes(resources.files("skimage.data").joinpath("astronaut.png").read_bytes())
    rows.append(
        (
            face.name,
            "900101500129",
            "63",
            "violation",
            "in-person",
            "a stranger stood at the ballot box during the count",
        )
    )
    write_jpeg(
        inbox / "жәшік_мөрсіз.jpg",
        seed + 10,
        PhotoExif(capture_time=datetime(2026, 11, 20, 14, 5, 0)),
    )
    rows.append(
        (
            "жәшік_мөрсіз.jpg",
            "870412300416",
            "12",
            "violation",
            "in-person",
            "ballot box left unsealed",
        )
    )
    write_jpeg(inbox / "violation_whatsapp.jpg", seed + 11, None)
    rows.append(
        (
            "violation_whatsapp.jpg",
            "900101500129",
            "47",
            "violation",
            "whatsapp",
            "sent through a messenger: no camera metadata",
        )
    )
    write_jpeg(inbox / "violation_edited.jpg", seed + 12, PhotoExif(software=EDITOR_SOFTWARE))
    rows.append(
        (
            "violation_edited.jpg",
            "900101500129",
            "47",
            "violation",
            "telegram",
            "the observer says it was only cropped",
        )
    )
    write_mp4(inbox / "count_video.mp4", seed, duration_s=3.0)
    rows.append(
        ("count_video.mp4", "870412300416", "63", "video", "in-person", "recording of the count")
    )
    write_truncated_jpeg(inbox / "damaged_protocol.jpg", seed + 13)
    rows.append(
        (
            "damaged_protocol.jpg",
            "900101500129",
            "47",
            "other",
            "telegram",
            "transfer was interrupted: the file is cut short",
        )
    )
    with open(inbox / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST_COLUMNS)
        w.writerows(rows)
    with open(out / "official.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("precinct", "field", "value"))
        w.writerows(official)
    return inbox


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="folder to write the samples into")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    try:
        inbox = make_samples(args.directory, args.seed)
    except FileNotFoundError as exc:  # ffmpeg missing
        print(f"make_samples: {exc}; install ffmpeg", file=sys.stderr)
        return 4
    for path in sorted(inbox.iterdir()):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
