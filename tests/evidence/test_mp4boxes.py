"""The in-process reader of MP4/MOV/3GP boxes reads what ffprobe reads, or leaves the file to
ffprobe: checked against the real ffprobe on videos the real ffmpeg writes."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from evidence.content import mp4boxes
from evidence.content.ffprobe import ProbeStatus, run_ffprobe
from evidence.content.metadata_readers import _video_fields, read_video
from evidence.content.metadata_types import Extractor, Status

_TAGS = [
    "-metadata",
    "creation_time=2026-11-20T15:20:00Z",
    "-metadata",
    "location=+43.2389+076.8897/",
]


def _ffmpeg(path: Path, *args: str, video: str = "libx264", audio: str | None = "aac") -> Path:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", "testsrc=size=176x144:rate=10:duration=1"]
    if audio is not None:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", audio]
    cmd += ["-c:v", video, "-pix_fmt", "yuv420p", "-threads", "1", *args, str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path


def _fields(data: dict[str, object], by: str) -> list[tuple[str, object]]:
    fields, flags = _video_fields(data, by)  # type: ignore[arg-type]
    return [(f.name, f.value) for f in fields] + [(str(f.reason), str(f.value)) for f in flags]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mp4boxes")
    x264 = ["-preset", "ultrafast"]
    return {
        "mp4 moov last": _ffmpeg(d / "a.mp4", *x264, *_TAGS),
        "mp4 moov first": _ffmpeg(d / "b.mp4", *x264, *_TAGS, "-movflags", "+faststart"),
        "mov": _ffmpeg(d / "c.mov", *x264, *_TAGS, "-metadata", "make=Phone Maker"),
        "mov apple keys": _ffmpeg(
            d / "d.mov",
            *x264,
            "-movflags",
            "use_metadata_tags",
            "-metadata",
            "com.apple.quicktime.creationdate=2026-11-20T18:20:00+0300",
            "-metadata",
            "com.apple.quicktime.location.ISO6709=+43.2389+076.8897+800.000/",
            "-metadata",
            "com.apple.quicktime.make=Apple",
            "-metadata",
            "com.apple.quicktime.model=iPhone 15",
        ),
        "hevc": _ffmpeg(
            d / "e.mp4",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
            *_TAGS,
            video="libx265",
        ),
        "video only, encoder tag": _ffmpeg(d / "f.mp4", *x264, audio=None),
        "3gp": _ffmpeg(d / "g.3gp", *_TAGS, video="h263"),
        "fragmented": _ffmpeg(d / "h.mp4", *x264, "-movflags", "frag_keyframe+empty_moov"),
    }


#: What this reader must read itself (the files an observer's phone makes); the others may
#: go to ffprobe, but what is read must be what ffprobe reads.
READ_HERE = {
    "mp4 moov last",
    "mp4 moov first",
    "mov",
    "mov apple keys",
    "hevc",
    "video only, encoder tag",
}


def test_what_the_boxes_say_is_what_ffprobe_says(videos: dict[str, Path]) -> None:
    read_here = set()
    for name, path in videos.items():
        ours = mp4boxes.probe(path)
        probe = run_ffprobe(path)
        assert probe.status is ProbeStatus.OK, name
        if ours is None:
            continue
        read_here.add(name)
        assert _fields(ours, "x") == _fields(probe.data, "x"), name
    assert read_here >= READ_HERE
    assert "fragmented" not in read_here  # its durations are in the fragments: ffprobe's


def test_the_fields_of_a_phone_video_are_read_without_ffprobe(
    videos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffprobe at all
    extractor, status, fields, flags = read_video(videos["mov apple keys"], 5.0)
    assert (extractor, status, flags) == (Extractor.MP4_BOXES, Status.OK, [])
    by = {f.name: f for f in fields}
    assert by["capture_time"].value == "2026-11-20T18:20:00+03:00"
    assert by["capture_time"].origin == "mp4 boxes tags.com.apple.quicktime.creationdate"
    assert (by["gps_latitude"].value, by["gps_longitude"].value) == (43.2389, 76.8897)
    assert (by["camera_make"].value, by["camera_model"].value) == ("Apple", "iPhone 15")
    assert (by["width"].value, by["height"].value, by["video_codec"].value) == (176, 144, "h264")
    # a file it leaves to ffprobe still needs ffprobe
    extractor, status, _, _ = read_video(videos["fragmented"], 5.0)
    assert (extractor, status) == (Extractor.FFPROBE, Status.DEGRADED)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


FTYP = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00\x00\x18ftyp",  # cut in its first box
        FTYP,  # no moov
        FTYP + b"\x00\x00\x00\x10mdat" + b"x" * 4,  # a box past the end
        FTYP + b"\xff\xff\xff\xffmoov" + b"\x00" * 64,  # a moov past the end
        FTYP + _box(b"moov", b"\x00\x00\x00\x04mvhd"),  # a box smaller than its header
        FTYP + _box(b"moov", _box(b"mvhd", b"\x00" * 100)),  # a timescale of 0
        FTYP + _box(b"moov", _box(b"mvhd", b"\x07" * 100)),  # a version that does not exist
        FTYP + _box(b"moov", _box(b"mvhd", b"\x00" * 12 + b"\x00\x00\x03\xe8" + b"\xff" * 4)),
        # (a duration "unknown": ffprobe takes one from the streams)
        FTYP
        + _box(
            b"moov",
            _box(b"mvhd", b"\x00" * 12 + b"\x00\x00\x03\xe8" + b"\x00" * 84)
            + _box(b"trak", _box(b"mdia", b"")),
        ),  # a track with nothing in it
        FTYP + _box(b"moov", b"\x00\x00\x00\x08free" * 30_000),  # a moov of tiny boxes
        FTYP + _box(b"moof", b""),  # fragments first
        _box(b"wide", b"") + FTYP,  # no ftyp first
    ],
)
def test_a_hostile_or_odd_file_is_left_to_ffprobe_and_never_raises(
    data: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    assert mp4boxes.probe(path) is None


def test_a_cut_video_without_its_moov_is_left_to_ffprobe(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    data = videos["mp4 moov last"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert mp4boxes.probe(cut) is None
    assert run_ffprobe(cut).status is ProbeStatus.FAILED  # and ffprobe says it cannot
