"""Dossier building blocks: face blurring, video stills, translations, images, atomic writes."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.dossier import media, redact, stills
from app.dossier.build import write_atomic
from app.dossier.i18n import MissingTranslation, load_translator, plural_category
from testing.dossier_sample import protocol_photo, sample_video


@pytest.fixture(scope="module")
def astronaut() -> bytes:
    """NASA's public-domain portrait of Eileen Collins, shipped inside scikit-image."""
    return resources.files("skimage.data").joinpath("astronaut.png").read_bytes()


@pytest.fixture(scope="module")
def video() -> bytes:
    return sample_video(3.0)


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def test_faces_in_a_real_photo_are_found_and_blurred_beyond_recognition(astronaut: bytes) -> None:
    result = redact.blur_faces(astronaut)
    assert result.faces == 1
    assert result.media_type == "image/png"
    before, after = _rgb(astronaut), _rgb(result.data)
    x, y, w, h = result.boxes[0]
    face_before, face_after = before[y : y + h, x : x + w], after[y : y + h, x : x + w]
    assert np.abs(face_before - face_after).mean() > 10
    # Detail is gone: the local contrast inside the face box collapses.
    assert face_after.std() < 0.5 * face_before.std()
    mask = np.ones(before.shape[:2], bool)
    mask[y : y + h, x : x + w] = False
    assert np.array_equal(before[mask], after[mask])
    assert redact.detect_faces(after.astype(np.uint8)) == []


def test_blurring_on_several_threads_finds_the_same_faces(astronaut: bytes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(redact.blur_faces, [astronaut] * 6))
    assert [r.faces for r in results] == [1] * 6
    assert len({r.data for r in results}) == 1


def test_a_protocol_photo_has_no_faces_and_keeps_its_pixels() -> None:
    jpeg, _ = protocol_photo("7", {"line_01": 100}, width=800, height=600)
    result = redact.blur_faces(jpeg)
    assert result.faces == 0 and result.media_type == "image/jpeg"
    assert np.abs(_rgb(jpeg) - _rgb(result.data)).mean() < 3


def test_stills_are_taken_at_the_stated_timecodes(video: bytes) -> None:
    result = stills.extract_stills(video, (0.5, 2.0, 99.0))
    assert [tc for tc, _ in result.stills] == [0.5, 2.0]
    assert result.missing == (99.0,)
    first, second = (_rgb(png) for _, png in result.stills)
    assert first.shape == (360, 640, 3)
    assert np.abs(first - second).mean() > 1  # the test source moves between frames
    assert stills.format_timecode(3723.5) == "1:02:03.500"


def test_missing_ffmpeg_is_a_broken_environment(
    video: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(stills.FfmpegMissing) as err:
        stills.extract_stills(video, (0.5,))
    assert err.value.exit_code == 4


def test_ffmpeg_failure_on_garbage_is_reported() -> None:
    with pytest.raises(stills.FfmpegFailed):
        stills.extract_stills(b"this is not a video", (0.0,))


@pytest.mark.parametrize(
    ("n", "form"),
    [
        (1, "1 день"),
        (2, "2 дня"),
        (4, "4 дня"),
        (5, "5 дней"),
        (11, "11 дней"),
        (21, "21 день"),
        (112, "112 дней"),
        (1001, "1\u00a0001 день"),
    ],
)
def test_russian_plurals(n: int, form: str) -> None:
    assert load_translator("ru").plural("deadline.days_left", n).endswith(form)


def test_kazakh_and_english_plurals() -> None:
    assert load_translator("kk").plural("deadline.days_left", 5) == "5 күн қалды"
    assert load_translator("en").plural("deadline.days_left", 1) == "1 day left"
    assert load_translator("en").plural("deadline.days_left", 3) == "3 days left"
    assert plural_category("kk", 1) == "other"


def test_times_are_shown_in_almaty_with_their_offset() -> None:
    moment = datetime(2026, 11, 15, 19, 5, 7, tzinfo=UTC)
    assert load_translator("ru").fmt_dt(moment) == "16.11.2026 00:05:07 (UTC+05:00)"
    assert load_translator("en").fmt_dt(moment) == "2026-11-16 00:05:07 (UTC+05:00)"
    with pytest.raises(ValueError):
        load_translator("en").fmt_dt(datetime(2026, 1, 1))
    with pytest.raises(MissingTranslation):
        load_translator("kk").t("no.such.key")
    with pytest.raises(ValueError):
        load_translator("de")


def test_display_copy_is_upright_and_bounded() -> None:
    img = Image.new("RGB", (3000, 1000), "white")
    img.paste((255, 0, 0), (0, 0, 300, 1000))  # red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    shown = Image.open(io.BytesIO(media.display_jpeg(out.getvalue(), max_px=900)))
    assert max(shown.size) <= 900 and shown.size[1] > shown.size[0]
    top = np.asarray(shown.convert("RGB"))[:20].astype(int)
    assert top[..., 0].mean() > 200 and top[..., 1].mean() < 80  # the band is now on top
    with pytest.raises(media.ImageUnreadable):
        media.display_jpeg(b"not an image")


def test_qr_code_holds_the_hash() -> None:
    import cv2

    sha = "a" * 64
    png = media.qr_png(sha)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(_rgb(png).astype(np.uint8))
    assert decoded == sha


def test_qr_codes_use_one_fixed_mask_and_hold_each_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed: a dossier's QR codes never score the eight masks (most of a code's time);
    each still holds its own hash, 4 pixels a module with a 2-module white border."""
    import hashlib

    import cv2
    import qrcode.util

    def scored(*args: object, **kwargs: object) -> int:
        raise AssertionError("a QR code's masks were scored")

    monkeypatch.setattr(qrcode.util, "lost_point", scored)
    for i in range(5):
        sha = hashlib.sha256(bytes([i])).hexdigest()
        png = media.qr_png(sha)
        img = Image.open(io.BytesIO(png))
        assert img.mode == "1" and img.size[0] == img.size[1] and img.size[0] % 4 == 0
        pixels = np.asarray(img.convert("L"))
        assert pixels[:8].min() == 255 and pixels[:, :8].min() == 255  # the quiet zone
        assert pixels[8:12, 8:12].max() == 0  # the finder pattern's dark corner module
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(_rgb(png).astype(np.uint8))
        assert decoded == sha


def test_atomic_write_replaces_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.pdf"
    write_atomic(target, b"first")
    assert target.read_bytes() == b"first"

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.pdf"]


def _sample_with_a_false_face() -> bytes:
    """A generated protocol photo (fresh seed, not tuned on) where OpenCV's face cascades
    alone see a 'face' in the printed header: the trap redaction fell into."""
    from ocr.synth.generate import make_sample

    photo = make_sample(11, 9101, tier="hard").image
    rgb = _rgb(photo).astype(np.uint8)
    real = redact.looks_like_face
    try:
        redact.looks_like_face = lambda *a: True  # type: ignore[assignment]
        assert redact.detect_faces(rgb), "the cascades alone must find the false face here"
    finally:
        redact.looks_like_face = real  # type: ignore[assignment]
    return photo


def test_a_protocol_sheet_is_never_blurred() -> None:
    photo = _sample_with_a_false_face()
    # The sheet is excluded, and the candidate fails the second check anyway (no skin).
    assert redact.blur_faces(photo, protocol=True).boxes == ()
    assert redact.blur_faces(photo, protocol=False).boxes == ()


def test_a_face_beside_the_sheet_is_blurred_and_the_sheet_untouched(astronaut: bytes) -> None:
    sheet_photo = _rgb(_sample_with_a_false_face()).astype(np.uint8)
    face = _rgb(astronaut).astype(np.uint8)[0:260, 120:330]  # her head and shoulders
    h = sheet_photo.shape[0]
    side = np.empty((h, 420, 3), np.uint8)
    side[:] = np.median(sheet_photo[:, :20].reshape(-1, 3), axis=0)  # the table beside it
    side[100 : 100 + face.shape[0], 100 : 100 + face.shape[1]] = face
    scene = np.hstack([sheet_photo, side])
    buf = io.BytesIO()
    Image.fromarray(scene).save(buf, "PNG")
    result = redact.blur_faces(buf.getvalue(), protocol=True)
    assert result.faces == 1
    assert result.boxes[0][0] >= sheet_photo.shape[1]  # the face beside the sheet, not on it
    mask = redact.sheet_mask(scene)
    assert mask is not None
    after = _rgb(result.data)
    assert np.array_equal(after[mask > 0], scene[mask > 0])  # not one pixel of the sheet moved


def test_a_face_in_a_grey_photo_is_still_found(astronaut: bytes) -> None:
    buf = io.BytesIO()
    Image.open(io.BytesIO(astronaut)).convert("L").save(buf, "PNG")
    assert redact.blur_faces(buf.getvalue()).faces == 1
