"""Metadata extraction and court flags over real generated files (real exifread, real ffprobe)."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.content import mp4boxes
from evidence.content.flag_text import flag_message
from evidence.content.media import detect_media_type
from evidence.content.metadata import (
    EXIF_READ_BUDGET,
    Extractor,
    FlagReason,
    Metadata,
    ProbeStatus,
    Source,
    Status,
    clean_text,
    distance_km,
    editing_software_in,
    extract_metadata,
    parse_iso6709,
    run_ffprobe,
)
from testing.samples import (
    ALMATY_PRECINCT,
    EDITOR_SOFTWARE,
    FAR_AWAY,
    PhotoExif,
    Sample,
    image_bytes,
    write_exif_bomb,
    write_heic,
    write_jpeg,
    write_sample_set,
    write_sparse,
)

RECEIVED = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    return write_sample_set(tmp_path_factory.mktemp("meta"), seed=5, with_heic=True)


def meta(path: Path, **kw: object) -> Metadata:
    kw.setdefault("received_at", RECEIVED)
    return extract_metadata(path, detect_media_type(path), **kw)  # type: ignore[arg-type]


def test_photo_fields_come_with_their_source(samples: dict[str, Sample]) -> None:
    exif = PhotoExif()
    m = meta(samples["photo"].path, precinct_location=ALMATY_PRECINCT)
    assert m.status is Status.OK and m.extractor is Extractor.EXIF
    assert m.flags == ()
    assert m.get("camera_make").value == exif.make  # type: ignore[union-attr]
    assert m.get("camera_model").value == exif.model  # type: ignore[union-attr]
    assert m.get("orientation").value == exif.orientation  # type: ignore[union-attr]
    assert exif.capture_time is not None
    taken = exif.capture_time.replace(tzinfo=timezone(timedelta(hours=5)))
    assert datetime.fromisoformat(str(m.get("capture_time").value)) == taken  # type: ignore[union-attr]
    assert exif.gps is not None
    assert abs(float(m.get("gps_latitude").value) - exif.gps[0]) < 1e-5  # type: ignore[union-attr]
    assert abs(float(m.get("gps_longitude").value) - exif.gps[1]) < 1e-5  # type: ignore[union-attr]
    for f in m.fields:
        expected = Source.DALEL_CLOCK if f.name == "received_at" else Source.FILE_METADATA
        assert f.source is expected, f.name
    assert m.get("received_at").value == "2026-11-21T06:00:00Z"  # type: ignore[union-attr]


def test_heic_exif_is_read(samples: dict[str, Sample]) -> None:
    exif = PhotoExif()
    m = meta(samples["heic"].path, precinct_location=ALMATY_PRECINCT)
    assert (m.status, m.flags) == (Status.OK, ())
    assert m.get("camera_model").value == exif.model  # type: ignore[union-attr]
    assert m.get("capture_time").value == "2026-11-20T20:15:00+05:00"  # type: ignore[union-attr]
    cut = meta(samples["truncated_heic"].path)
    assert {FlagReason.FILE_DAMAGED, FlagReason.METADATA_UNREADABLE} <= cut.reasons()


def test_editing_software_is_flagged_with_its_value(samples: dict[str, Sample]) -> None:
    m = meta(samples["edited"].path)
    flags = [f for f in m.flags if f.reason is FlagReason.EDITING_SOFTWARE]
    assert [(f.field, f.value) for f in flags] == [("software", EDITOR_SOFTWARE)]
    assert FlagReason.EDITING_SOFTWARE not in meta(samples["photo"].path).reasons()


@pytest.mark.parametrize("key", ["stripped", "png"])
def test_missing_metadata_is_said_plainly(samples: dict[str, Sample], key: str) -> None:
    m = meta(samples[key].path)
    assert FlagReason.METADATA_MISSING in m.reasons()
    assert m.status is Status.OK
    missing = next(f for f in m.flags if f.reason is FlagReason.METADATA_MISSING)
    assert "messenger" in flag_message(missing, "en").lower()
    assert "мессенджер" in flag_message(missing, "ru").lower()
    assert "мессенджер" in flag_message(missing, "kk").lower()


def test_future_capture_time_is_flagged(samples: dict[str, Sample]) -> None:
    m = meta(samples["future"].path)
    flag = next(f for f in m.flags if f.reason is FlagReason.CAPTURE_AFTER_RECEIPT)
    assert flag.value["received_at"] == "2026-11-21T06:00:00Z"
    assert flag.value["capture_time"].startswith("2031-01-01T12:00:00")
    # received after the capture: no flag
    later = meta(samples["future"].path, received_at=datetime(2031, 1, 2, tzinfo=UTC))
    assert FlagReason.CAPTURE_AFTER_RECEIPT not in later.reasons()


def test_time_without_offset_uses_the_assumed_offset(tmp_path: Path) -> None:
    local = datetime(2026, 11, 20, 20, 15, 0)
    path = write_jpeg(tmp_path / "no_offset.jpg", 3, PhotoExif(capture_time=local, utc_offset=None))
    as_utc = local - timedelta(hours=5)  # Kazakhstan, UTC+5
    just_before = meta(path, received_at=as_utc.replace(tzinfo=UTC) - timedelta(minutes=1))
    just_after = meta(path, received_at=as_utc.replace(tzinfo=UTC) + timedelta(minutes=1))
    assert FlagReason.CAPTURE_AFTER_RECEIPT in just_before.reasons()
    assert FlagReason.CAPTURE_AFTER_RECEIPT not in just_after.reasons()
    assert "+05:00" in just_after.get("capture_time").note  # type: ignore[union-attr]
    utc_cam = meta(
        path,
        received_at=as_utc.replace(tzinfo=UTC) + timedelta(minutes=1),
        camera_utc_offset=timedelta(0),
    )
    assert FlagReason.CAPTURE_AFTER_RECEIPT in utc_cam.reasons()


def test_gps_far_from_precinct(samples: dict[str, Sample]) -> None:
    far = meta(samples["far"].path, precinct_location=ALMATY_PRECINCT)
    flag = next(f for f in far.flags if f.reason is FlagReason.GPS_FAR_FROM_PRECINCT)
    expected_km = distance_km(FAR_AWAY, ALMATY_PRECINCT)
    assert flag.value["distance_km"] == pytest.approx(expected_km, abs=0.01)
    assert str(flag.value["distance_km"]) in flag_message(flag, "ru")
    near = meta(samples["photo"].path, precinct_location=ALMATY_PRECINCT)
    assert FlagReason.GPS_FAR_FROM_PRECINCT not in near.reasons()
    nowhere = meta(samples["far"].path)  # no precinct location configured
    assert FlagReason.GPS_FAR_FROM_PRECINCT not in nowhere.reasons()
    wide = meta(samples["far"].path, precinct_location=ALMATY_PRECINCT, max_distance_km=1000)
    assert FlagReason.GPS_FAR_FROM_PRECINCT not in wide.reasons()


def test_truncated_jpeg_keeps_metadata_and_says_damaged(samples: dict[str, Sample]) -> None:
    m = meta(samples["truncated_jpeg"].path)
    assert FlagReason.FILE_DAMAGED in m.reasons()
    assert m.get("capture_time") is not None


@pytest.mark.parametrize(
    "key", ["fake_heic", "corrupt_png", "truncated_mp4_no_moov", "truncated_heic"]
)
def test_damaged_file_metadata_unreadable(samples: dict[str, Sample], key: str) -> None:
    m = meta(samples[key].path)
    assert m.status is Status.UNREADABLE
    assert {FlagReason.METADATA_UNREADABLE, FlagReason.FILE_DAMAGED} <= m.reasons()
    assert FlagReason.METADATA_MISSING not in m.reasons()
    assert [f.name for f in m.fields] == ["received_at"]


def test_empty_and_lying_files(samples: dict[str, Sample]) -> None:
    empty = meta(samples["empty"].path)
    assert FlagReason.EMPTY_FILE in empty.reasons()
    text = meta(samples["text_as_jpg"].path)
    assert text.status is Status.NOT_APPLICABLE
    assert [f.value for f in text.flags if f.reason is FlagReason.EXTENSION_MISMATCH] == [
        {"content": "text/plain", "extension": "jpg"}
    ]
    png = meta(samples["png_as_jpg"].path)
    assert FlagReason.EXTENSION_MISMATCH in png.reasons()


@pytest.mark.parametrize("reader", [Extractor.MP4_BOXES, Extractor.FFPROBE])
def test_video_metadata(
    samples: dict[str, Sample], reader: Extractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reader is Extractor.FFPROBE:  # a video the boxes' reader leaves to ffprobe
        monkeypatch.setattr(mp4boxes, "probe", lambda path: None)
    m = meta(samples["video"].path, precinct_location=ALMATY_PRECINCT)
    assert (m.status, m.extractor) == (Status.OK, reader)
    assert m.get("duration_s").value == pytest.approx(2.0, abs=0.1)  # type: ignore[union-attr]
    assert m.get("video_codec").value == "h264"  # type: ignore[union-attr]
    assert m.get("capture_time").value == "2026-11-20T15:20:00Z"  # type: ignore[union-attr]
    assert m.get("gps_latitude").value == pytest.approx(ALMATY_PRECINCT[0])  # type: ignore[union-attr]
    assert m.flags == ()
    damaged = meta(samples["truncated_mp4"].path)
    assert damaged.status is Status.OK and FlagReason.FILE_DAMAGED in damaged.reasons()
    assert damaged.get("capture_time") is not None


def test_ffprobe_missing_is_a_recorded_degraded_result(
    samples: dict[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mp4boxes, "probe", lambda path: None)  # a video left to ffprobe
    m = meta(samples["video"].path)
    assert m.status is Status.DEGRADED
    flag = next(f for f in m.flags if f.reason is FlagReason.EXTRACTOR_UNAVAILABLE)
    assert flag.value["status"] == ProbeStatus.NOT_INSTALLED
    assert FlagReason.METADATA_MISSING not in m.reasons()


def test_ffprobe_that_hangs_times_out(
    samples: dict[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = tmp_path / "ffprobe"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(slow.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setattr(mp4boxes, "probe", lambda path: None)  # a video left to ffprobe
    started = time.monotonic()
    m = meta(samples["video"].path, ffprobe_timeout_s=0.5)
    assert time.monotonic() - started < 10
    assert m.status is Status.DEGRADED
    assert [f.value["status"] for f in m.flags] == [ProbeStatus.TIMEOUT]


def test_ffprobe_wrapper_does_not_leak_the_path(samples: dict[str, Sample]) -> None:
    probe = run_ffprobe(samples["truncated_mp4_no_moov"].path)
    assert probe.status is ProbeStatus.FAILED
    assert str(samples["truncated_mp4_no_moov"].path.parent) not in probe.detail


def test_to_dict_is_stable_canonical_json(samples: dict[str, Sample]) -> None:
    for key in ("photo", "video", "fake_heic", "far"):
        a = meta(samples[key].path, precinct_location=ALMATY_PRECINCT).to_dict()
        b = meta(samples[key].path, precinct_location=ALMATY_PRECINCT).to_dict()
        assert rfc8785.dumps(a) == rfc8785.dumps(b)
        assert json.loads(json.dumps(a)) == a


def test_naive_received_at_is_refused(samples: dict[str, Sample]) -> None:
    with pytest.raises(ValueError):
        meta(samples["photo"].path, received_at=datetime(2026, 11, 21))


def test_hostile_strings_are_cleaned(tmp_path: Path) -> None:
    evil = PhotoExif(make="Evil\x1b[31mCam\x07", model="x" * 5000)
    path = write_jpeg(tmp_path / "evil.jpg", 1, evil)
    m = meta(path)
    assert m.get("camera_make").value == "Evil [31mCam"  # type: ignore[union-attr]
    assert len(str(m.get("camera_model").value)) == 200  # type: ignore[union-attr]
    assert clean_text("a\x00b\u202ec\n\td") == "a b c d"  # NUL, right-to-left override
    assert clean_text(b"a\xffb") == "a\ufffdb"


@pytest.mark.parametrize(
    "text,point",
    [
        ("+43.2389+076.8897/", (43.2389, 76.8897)),
        ("+43.2389+076.8897+850.000/", (43.2389, 76.8897)),
        ("-33.8688+151.2093/", (-33.8688, 151.2093)),
        ("+4314.334+07653.382/", (43 + 14.334 / 60, 76 + 53.382 / 60)),
        ("+431420.04+0765322.92/", (43 + 14 / 60 + 20.04 / 3600, 76 + 53 / 60 + 22.92 / 3600)),
    ],
)
def test_iso6709(text: str, point: tuple[float, float]) -> None:
    got = parse_iso6709(text)
    assert got is not None
    assert got == pytest.approx(point)


@pytest.mark.parametrize("text", ["", "garbage", "+95.0+010.0/", "+43.2+190.0/", "43.2 76.8"])
def test_iso6709_rejects(text: str) -> None:
    assert parse_iso6709(text) is None


def test_distance_and_editors() -> None:
    one_degree = 2 * math.pi * 6371.0088 / 360
    assert distance_km((43.0, 76.0), (44.0, 76.0)) == pytest.approx(one_degree, rel=1e-9)
    assert distance_km(ALMATY_PRECINCT, ALMATY_PRECINCT) == 0
    assert editing_software_in("Adobe Lightroom Classic 13.0") == "lightroom"
    assert editing_software_in("Snapseed 2.0") == "snapseed"
    assert editing_software_in("A546EXXU5BWK3") is None


@pytest.mark.slow
def test_huge_sparse_photo_is_not_read_whole(tmp_path: Path) -> None:
    huge = write_sparse(tmp_path / "huge.jpg", 3 * 1024**3, image_bytes(9)[:-2])
    tracemalloc.start()
    started = time.monotonic()
    m = meta(huge)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert m.get("camera_make") is not None
    assert peak < EXIF_READ_BUDGET + 8 * 1024 * 1024
    assert elapsed < 20


def test_exif_that_claims_huge_values_is_not_trusted(tmp_path: Path) -> None:
    bomb = write_exif_bomb(tmp_path / "bomb.jpg", claimed=64 * 1024**2)
    tracemalloc.start()
    m = meta(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # exifread alone allocates about twice the claimed size
    assert m.status is Status.UNREADABLE
    assert [f.value for f in m.flags] == ["read budget exceeded"]


def test_southern_and_western_gps_are_negative(tmp_path: Path) -> None:
    path = write_jpeg(tmp_path / "south.jpg", 2, PhotoExif(gps=(-33.5, -70.25)))
    m = meta(path)
    assert m.get("gps_latitude").value == pytest.approx(-33.5)  # type: ignore[union-attr]
    assert m.get("gps_longitude").value == pytest.approx(-70.25)  # type: ignore[union-attr]


_BASE = image_bytes(4)
FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # tmp_path is reused: each example overwrites


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    cut=st.integers(0, len(_BASE)),
    flips=st.lists(st.tuples(st.integers(0, len(_BASE) - 1), st.integers(0, 255)), max_size=12),
)
def test_never_raises_on_mangled_photos(
    tmp_path: Path, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(_BASE)
    for pos, val in flips:
        data[pos] = val
    path = tmp_path / "mangled.jpg"
    path.write_bytes(bytes(data[:cut]))
    m = meta(path, precinct_location=ALMATY_PRECINCT)
    assert m.get("received_at") is not None
    json.dumps(m.to_dict())


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(tail=st.binary(max_size=600), brand=st.sampled_from([b"heic", b"isom", b"qt  ", b"mif1"]))
def test_never_raises_on_hostile_iso_media(tmp_path: Path, tail: bytes, brand: bytes) -> None:
    path = tmp_path / "hostile.mp4"
    path.write_bytes(b"\x00\x00\x00\x14ftyp" + brand + b"\x00\x00\x00\x00" + brand + tail)
    m = meta(path)
    assert m.status in (Status.OK, Status.UNREADABLE)
    assert m.get("received_at") is not None


with tempfile.TemporaryDirectory() as _tmp:
    _HEIC = write_heic(Path(_tmp) / "base.heic", 8).read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    flips=st.lists(
        st.tuples(st.integers(0, min(600, len(_HEIC) - 1)), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_never_raises_on_mangled_heic(tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_HEIC)
    for pos, val in flips:
        data[pos] = val
    path = tmp_path / "mangled.heic"
    path.write_bytes(bytes(data))
    m = meta(path)
    assert m.get("received_at") is not None
    json.dumps(m.to_dict())


@pytest.mark.parametrize(
    "xmp",
    [
        b'<rdf:Description xmp:CreatorTool="Adobe Photoshop 25.1 (Windows)"/>',
        b"<XMP:CREATORTOOL>Adobe Photoshop 25.1 (Windows)</XMP:CREATORTOOL>",
        b"<stEvt:SoftwareAgent>Adobe Photoshop 25.1 (Windows)</stEvt:SoftwareAgent>",
    ],
)
def test_editing_software_named_in_xmp_in_any_case_is_flagged(
    samples: dict[str, Sample], tmp_path: Path, xmp: bytes
) -> None:
    data = samples["stripped"].path.read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + xmp + b"</x:xmpmeta>"
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path = tmp_path / "xmp.jpg"
    path.write_bytes(data[:2] + segment + data[2:])
    flags = [f for f in meta(path).flags if f.reason is FlagReason.EDITING_SOFTWARE]
    assert [f.value for f in flags] == ["Adobe Photoshop 25.1 (Windows)"]
