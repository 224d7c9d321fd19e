"""The sample generators are deterministic, small and what they claim; the demo script works."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import exifread
import pytest
from PIL import Image

from testing.samples import (
    EDITOR_SOFTWARE,
    KAZAKH_LETTERS,
    PhotoExif,
    image_bytes,
    write_sample_set,
    write_sparse,
)

REPO = Path(__file__).resolve().parents[2]


def _digests(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_sample_set(tmp_path / "a", seed=3, with_heic=True)
    write_sample_set(tmp_path / "b", seed=3, with_heic=True)
    write_sample_set(tmp_path / "c", seed=4, with_video=False)
    da, db, dc = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert da == db
    assert len(da) == len(a)
    assert da["photo_exif.jpg"] != dc["photo_exif.jpg"]


def test_samples_are_small_and_what_they_claim(tmp_path: Path) -> None:
    s = write_sample_set(tmp_path, seed=1)
    for sample in s.values():
        assert sample.path.stat().st_size < 64 * 1024, sample.path
    with Image.open(s["photo"].path) as im:
        assert im.format == "JPEG"
    with Image.open(s["png_as_jpg"].path) as im:
        assert im.format == "PNG"
    assert s["empty"].path.stat().st_size == 0
    assert s["fake_heic"].path.read_bytes()[4:12] == b"ftypheic"
    assert s["truncated_jpeg"].path.read_bytes()[-2:] != b"\xff\xd9"
    assert any(c in s["kazakh_name"].path.name for c in KAZAKH_LETTERS)
    assert s["kazakh_name"].path.name in os.listdir(tmp_path)


def test_exif_written_is_read_back_by_exifread(tmp_path: Path) -> None:
    s = write_sample_set(tmp_path, seed=2, with_video=False)
    with open(s["edited"].path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    assert str(tags["Image Software"]) == EDITOR_SOFTWARE
    assert str(tags["EXIF DateTimeOriginal"]) == "2026:11:20 20:15:00"
    assert str(tags["EXIF OffsetTimeOriginal"]) == "+05:00"
    assert str(tags["GPS GPSLatitudeRef"]) == "N"
    with open(s["stripped"].path, "rb") as fh:
        assert exifread.process_file(fh, details=False) == {}


def test_southern_western_gps_refs(tmp_path: Path) -> None:
    data = image_bytes(1, exif=PhotoExif(gps=(-33.5, -70.25)))
    path = tmp_path / "south.jpg"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    assert (str(tags["GPS GPSLatitudeRef"]), str(tags["GPS GPSLongitudeRef"])) == ("S", "W")


def test_video_has_creation_time_and_location(tmp_path: Path) -> None:
    s = write_sample_set(tmp_path, seed=1)
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:format_tags",
            "-of",
            "default=nw=1",
            str(s["video"].path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "TAG:creation_time=2026-11-20T15:20:00" in out
    assert "TAG:location=+43.2389+076.8897/" in out
    line = next(line for line in out.splitlines() if line.startswith("duration="))
    duration = float(line.split("=")[1])
    assert 1.5 < duration < 2.5


def test_sparse_file_is_huge_but_takes_no_space(tmp_path: Path) -> None:
    path = write_sparse(tmp_path / "huge.bin", 3 * 1024**3, b"head")
    st = path.stat()
    assert st.st_size == 3 * 1024**3
    assert st.st_blocks * 512 < 1024 * 1024
    with open(path, "rb") as fh:
        assert fh.read(4) == b"head"


def test_demo_make_samples_writes_files_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "demo samples"
    proc = subprocess.run(
        [sys.executable, str(REPO / "demo" / "make_samples.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    inbox = out / "inbox"
    with open(inbox / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["file", "observer", "precinct", "kind", "channel", "note"]
    for row in rows:
        assert (inbox / row["file"]).is_file(), row["file"]
        assert row["kind"] in {"protocol", "violation", "act", "video", "other"}
        assert row["precinct"].isdigit()
    kinds = {row["kind"] for row in rows}
    assert {"protocol", "violation", "video"} <= kinds
    names = set(os.listdir(inbox))
    assert len([n for n in names if n.endswith(".mp4")]) == 1
    damaged = inbox / "damaged_protocol.jpg"
    assert damaged.read_bytes()[:2] == b"\xff\xd8" and damaged.read_bytes()[-2:] != b"\xff\xd9"
    assert sorted(proc.stdout.split("\n")[:-1]) == sorted(str(inbox / n) for n in names)
    # every protocol photo has its truth, and the official results differ in one figure only
    protocols = [r["file"] for r in rows if r["kind"] == "protocol"]
    assert all((out / "truth" / f"{p}.json").is_file() for p in protocols)
    with open(out / "official.csv", newline="", encoding="utf-8") as fh:
        official = {(r["precinct"], r["field"]): int(r["value"]) for r in csv.DictReader(fh)}
    diffs = []
    for p in protocols:
        import json

        precinct = next(r["precinct"] for r in rows if r["file"] == p)
        truth = json.loads((out / "truth" / f"{p}.json").read_text())["figures"]
        diffs += [(precinct, k) for k, v in truth.items() if official[(precinct, k)] != v]
    assert set(diffs) == {("63", "amanat")}
    # deterministic: a second run gives the same bytes
    again = tmp_path / "again"
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "make_samples.py"), str(again)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert _digests(inbox) == _digests(again / "inbox")


@pytest.mark.parametrize("precinct", [12, 347])
def test_protocol_page_differs_by_precinct(precinct: int) -> None:
    page = image_bytes(1, protocol_precinct=precinct)
    assert page != image_bytes(1, protocol_precinct=precinct + 1)
