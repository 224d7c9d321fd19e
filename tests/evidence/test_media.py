"""Media type from content (real libmagic) and structure checks over generated real files."""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from evidence.content import media
from evidence.content.media import (
    DetectedBy,
    MediaFamily,
    StructureProblem,
    StructureVerdict,
    check_structure,
    detect_media_type,
    extension_of,
    ftyp_brands,
    heif_exif,
    sniff,
)
from testing.samples import KAZAKH_LETTERS, Sample, write_sample_set, write_sparse


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    return write_sample_set(tmp_path_factory.mktemp("media"), seed=11, with_heic=True)


ALL_KEYS = [
    "photo",
    "edited",
    "stripped",
    "future",
    "far",
    "png",
    "kazakh_name",
    "empty",
    "truncated_jpeg",
    "corrupt_png",
    "fake_heic",
    "png_as_jpg",
    "text_as_jpg",
    "video",
    "truncated_mp4",
    "truncated_mp4_no_moov",
    "heic",
    "truncated_heic",
]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_type_comes_from_content(samples: dict[str, Sample], key: str) -> None:
    sample = samples[key]
    assert detect_media_type(sample.path).mime == sample.mime


@pytest.mark.parametrize(
    "key,lies",
    [
        ("png_as_jpg", True),
        ("text_as_jpg", True),
        ("empty", True),
        ("photo", False),
        ("png", False),
        ("video", False),
        ("kazakh_name", False),
    ],
)
def test_lying_extension_is_noted(samples: dict[str, Sample], key: str, lies: bool) -> None:
    assert detect_media_type(samples[key].path).extension_mismatch is lies


def test_original_name_is_used_for_the_extension_check(samples: dict[str, Sample]) -> None:
    photo = samples["photo"].path
    assert detect_media_type(photo, name="evidence.png").extension_mismatch is True
    assert detect_media_type(photo, name="evidence.JPEG").extension_mismatch is False
    assert detect_media_type(photo, name="no_extension").extension_mismatch is False


def test_families(samples: dict[str, Sample]) -> None:
    assert detect_media_type(samples["photo"].path).family is MediaFamily.IMAGE
    assert detect_media_type(samples["video"].path).family is MediaFamily.VIDEO
    assert detect_media_type(samples["empty"].path).family is MediaFamily.EMPTY
    assert detect_media_type(samples["text_as_jpg"].path).family is MediaFamily.DOCUMENT


def test_ftyp_brands_are_read(samples: dict[str, Sample]) -> None:
    heic = detect_media_type(samples["fake_heic"].path)
    assert heic.brands == ("heic", "mif1", "heic")
    video = detect_media_type(samples["video"].path)
    assert video.brands[0] == "isom" and "mp41" in video.brands


def _ftyp(major: bytes, *compat: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compat)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    "major,compat,mime",
    [
        (b"qt  ", (b"qt  ",), "video/quicktime"),
        (b"mif1", (b"mif1", b"heic"), "image/heic"),
        (b"heix", (b"mif1",), "image/heic"),
        (b"avif", (b"mif1",), "image/avif"),
        (b"mp42", (b"isom",), "video/mp4"),
    ],
)
def test_brand_decides_iso_media(major: bytes, compat: tuple[bytes, ...], mime: str) -> None:
    assert sniff(_ftyp(major, *compat), "x.bin").mime == mime


def test_heif_exif_item_is_found(samples: dict[str, Sample]) -> None:
    data = samples["heic"].path.read_bytes()
    tiff = heif_exif(data)
    assert tiff is not None and tiff[:4] in (b"MM\x00*", b"II*\x00")
    assert b"SM-A546E" in tiff  # the model PhotoExif() writes
    with open(samples["heic"].path, "rb") as fh:  # item beyond the head: read from the file
        assert heif_exif(data[:400], fh) in (tiff, None)
    assert heif_exif(samples["photo"].path.read_bytes()) is None
    assert heif_exif(samples["fake_heic"].path.read_bytes()) is None


def test_ftyp_brands_refuse_nonsense() -> None:
    assert ftyp_brands(b"") == ()
    assert ftyp_brands(b"\xff\xff\xff\xffftypheic" + b"\x00" * 16) == ()
    assert ftyp_brands(b"\x00\x00\x00\x18moovheic" + b"\x00" * 16) == ()


def test_extension_of() -> None:
    assert extension_of("photo.JPG") == "jpg"
    assert extension_of(f"хаттама_{KAZAKH_LETTERS}.Jpeg") == "jpeg"
    assert extension_of(".hidden") == ""
    assert extension_of("archive.tar.gz") == "gz"
    assert extension_of("dir.d/noext") == ""
    assert extension_of("photo.870412300415") == ""  # a 12-digit IIN never becomes a field
    assert extension_of("photo.jp\x1bg") == ""


def test_kazakh_name_is_detected(samples: dict[str, Sample]) -> None:
    path = samples["kazakh_name"].path
    assert any(c in path.name for c in KAZAKH_LETTERS)
    found = detect_media_type(path)
    assert found.mime == "image/jpeg" and found.extension == "jpg"


def test_without_libmagic_builtin_signatures_are_used(
    samples: dict[str, Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "_libmagic", lambda head: None)
    photo = detect_media_type(samples["photo"].path)
    assert (photo.mime, photo.detected_by) == ("image/jpeg", DetectedBy.BUILTIN)
    assert detect_media_type(samples["png_as_jpg"].path).extension_mismatch is True
    assert detect_media_type(samples["video"].path).mime == "video/mp4"


@pytest.mark.parametrize(
    "key,verdict,problem",
    [
        ("photo", StructureVerdict.INTACT, None),
        ("png", StructureVerdict.INTACT, None),
        ("video", StructureVerdict.INTACT, None),
        ("empty", StructureVerdict.DAMAGED, StructureProblem.EMPTY),
        ("truncated_jpeg", StructureVerdict.DAMAGED, StructureProblem.TRUNCATED),
        ("corrupt_png", StructureVerdict.DAMAGED, StructureProblem.BAD_CHECKSUM),
        ("fake_heic", StructureVerdict.DAMAGED, StructureProblem.BAD_FRAMING),
        ("truncated_mp4", StructureVerdict.DAMAGED, StructureProblem.TRUNCATED),
        ("truncated_mp4_no_moov", StructureVerdict.DAMAGED, StructureProblem.TRUNCATED),
        ("text_as_jpg", StructureVerdict.NOT_CHECKED, None),
        ("heic", StructureVerdict.INTACT, None),
        ("truncated_heic", StructureVerdict.DAMAGED, StructureProblem.TRUNCATED),
    ],
)
def test_structure(
    samples: dict[str, Sample],
    key: str,
    verdict: StructureVerdict,
    problem: StructureProblem | None,
) -> None:
    path = samples[key].path
    check = check_structure(path, detect_media_type(path))
    assert (check.verdict, check.problem) == (verdict, problem)


def test_png_cut_before_iend_is_truncated(samples: dict[str, Sample], tmp_path: Path) -> None:
    data = samples["png"].path.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[:-12])  # drop IEND
    assert check_structure(cut, detect_media_type(cut)).problem is StructureProblem.TRUNCATED


def test_unreadable_file_is_reported_not_raised(samples: dict[str, Sample], tmp_path: Path) -> None:
    mt = detect_media_type(samples["photo"].path)
    check = check_structure(tmp_path / "gone.jpg", mt)
    assert check.problem is StructureProblem.UNREADABLE


@pytest.mark.slow
def test_huge_sparse_file_is_streamed_with_bounded_memory(
    samples: dict[str, Sample], tmp_path: Path
) -> None:
    head = samples["photo"].path.read_bytes()[:-2]
    huge = write_sparse(tmp_path / "huge.jpg", 3 * 1024**3, head)
    tracemalloc.start()
    started = time.monotonic()
    mt = detect_media_type(huge)
    check = check_structure(huge, mt)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert mt.mime == "image/jpeg"
    assert check.verdict is StructureVerdict.NOT_CHECKED  # gave up at the budget, did not read 3 GB
    assert peak < 8 * 1024 * 1024
    assert elapsed < 20


def _no_eoi(samples: dict[str, Sample]) -> bytes:
    data = samples["photo"].path.read_bytes()
    assert data.endswith(b"\xff\xd9")
    return data[:-2]


def test_a_whole_jpeg_is_judged_from_its_tail(samples: dict[str, Sample], tmp_path: Path) -> None:
    """The end-of-image marker is looked for from the end: a whole photo far larger than the
    read budget is still found intact (a scan forwards would give up at the budget), with
    the bytes some phones append after the marker too."""
    head = _no_eoi(samples)
    big = tmp_path / "big.jpg"
    # entropy-coded data never holds FF D9 (an FF there is followed by 00): padding inside
    # the scan, then the real end, then bytes appended after it
    body = head + b"\x12" * 3_000_000
    big.write_bytes(body + b"\xff\xd9" + b"appended by a phone")
    mt = detect_media_type(big)
    assert check_structure(big, mt, limit=300_000).verdict is StructureVerdict.INTACT
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(body)
    check = check_structure(cut, mt)
    assert (check.verdict, check.problem) == (StructureVerdict.DAMAGED, StructureProblem.TRUNCATED)


@pytest.mark.parametrize(
    "after", [media._TAIL - 1, media._TAIL, media._TAIL + 1, media._CHUNK + media._TAIL - 1]
)
def test_an_end_marker_across_two_reads_is_found(
    samples: dict[str, Sample], tmp_path: Path, after: int
) -> None:
    """FF in one piece read backwards and D9 in the next: still the end-of-image marker."""
    path = tmp_path / "split.jpg"
    path.write_bytes(_no_eoi(samples) + b"\xff\xd9" + b"x" * after)
    assert check_structure(path, detect_media_type(path)).verdict is StructureVerdict.INTACT
    lone = tmp_path / "lone.jpg"  # an FF with no D9 after it is no marker
    lone.write_bytes(_no_eoi(samples) + b"\xff" + b"x" * after)
    assert check_structure(lone, detect_media_type(lone)).problem is StructureProblem.TRUNCATED
