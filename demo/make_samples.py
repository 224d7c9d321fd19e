"""Write the demo's bundled sample evidence into a folder: ``python demo/make_samples.py DIR``.

Generated, deterministic files (see evidence/testing/samples.py): protocol-like photos, violation
photos (one sent through a messenger, so without metadata; one edited), one short video made with
ffmpeg, one damaged file, and a ``manifest.csv`` (file, observer, precinct, kind, channel, note)
that names some of them. The protocol pictures are plain generated pages for now.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evidence.testing.samples import (
    EDITOR_SOFTWARE,
    PhotoExif,
    write_jpeg,
    write_mp4,
    write_truncated_jpeg,
)

MANIFEST_COLUMNS = ("file", "observer", "precinct", "kind", "channel", "note")


def make_samples(directory: Path, seed: int = 2026) -> list[Path]:
    """Write the demo files into `directory` (created if needed); return their paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows: list[tuple[str, str, str, str, str, str]] = []
    for i, precinct in enumerate((12, 12, 47)):
        taken = datetime(2026, 11, 20, 20, 30 + i * 7, 0)
        name = f"хаттама_учаске_{precinct}_{i + 1}.jpg"
        files.append(write_jpeg(d / name, seed + i, PhotoExif(capture_time=taken),
                                protocol_precinct=precinct))
        rows.append((name, "observer-017", str(precinct), "protocol", "in-person",
                     "copy of the result protocol handed to the observer"))
    files.append(write_jpeg(d / "бұзушылық_сайлау_жәшігі.jpg", seed + 10,
                            PhotoExif(capture_time=datetime(2026, 11, 20, 14, 5, 0))))
    rows.append(("бұзушылық_сайлау_жәшігі.jpg", "observer-017", "12", "violation", "in-person",
                 "ballot box left unsealed"))
    files.append(write_jpeg(d / "violation_whatsapp.jpg", seed + 11, None))
    rows.append(("violation_whatsapp.jpg", "observer-023", "47", "violation", "whatsapp",
                 "sent through a messenger: no camera metadata"))
    files.append(write_jpeg(d / "violation_edited.jpg", seed + 12,
                            PhotoExif(software=EDITOR_SOFTWARE)))
    files.append(write_mp4(d / "video_count.mp4", seed, duration_s=2.0))
    rows.append(("video_count.mp4", "observer-017", "12", "video", "in-person",
                 "recording of the count"))
    files.append(write_truncated_jpeg(d / "damaged_protocol.jpg", seed + 13))
    rows.append(("damaged_protocol.jpg", "observer-023", "47", "protocol", "telegram",
                 "transfer was interrupted: the file is cut short"))
    with open(d / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    files.append(d / "manifest.csv")
    return files


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="folder to write the sample files into")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    try:
        files = make_samples(args.directory, args.seed)
    except FileNotFoundError as exc:  # ffmpeg missing
        print(f"make_samples: {exc}; install ffmpeg", file=sys.stderr)
        return 4
    for path in files:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
