"""Bad input: every field unreadable with a reason, never a crash."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr import Reason, Status, read_protocol
from ocr.synth import make_sample


def _jpeg(img: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf)


def _all_unreadable(reading, reason: Reason) -> None:
    assert reading.problem is reason
    assert {f.status for f in reading.fields} == {Status.UNREADABLE}
    assert {f.reason for f in reading.fields} == {reason}
    assert all(f.value is None for f in reading.fields)
    assert all(r.holds is None for r in reading.relations)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7\n" * 50, bytes(range(256)) * 40])
def test_not_an_image(mazhilis, data: bytes) -> None:
    _all_unreadable(read_protocol(data, mazhilis), Reason.NOT_AN_IMAGE)


def test_blank_page(mazhilis) -> None:
    rng = np.random.default_rng(1)
    page = np.full((2000, 1500, 3), 232, np.uint8) + rng.integers(
        0, 6, (2000, 1500, 3), dtype=np.uint8
    )
    _all_unreadable(read_protocol(_jpeg(page), mazhilis), Reason.BLANK)


def test_photo_of_something_else(mazhilis) -> None:
    img = np.zeros((1600, 1200, 3), np.uint8)
    img[:] = (40, 120, 200)
    cv2.circle(img, (600, 800), 400, (20, 200, 60), -1)
    cv2.rectangle(img, (100, 100), (500, 400), (200, 50, 50), -1)
    cv2.putText(img, "SALE 50%", (150, 1400), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
    _all_unreadable(
        read_protocol(_jpeg(cv2.GaussianBlur(img, (0, 0), 2)), mazhilis), Reason.NOT_A_PROTOCOL
    )


def test_thumbnail(mazhilis) -> None:
    s = make_sample(1, 5, tier="photo", script="typed", layout="table")
    img = cv2.imdecode(np.frombuffer(s.image, np.uint8), cv2.IMREAD_COLOR)
    _all_unreadable(read_protocol(_jpeg(cv2.resize(img, (150, 200))), mazhilis), Reason.TOO_SMALL)


@pytest.mark.slow
def test_fifty_megapixel_photo_is_read(mazhilis) -> None:
    s = make_sample(1, 5, tier="photo", script="typed", layout="table")
    img = cv2.imdecode(np.frombuffer(s.image, np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(img, (6150, 8200), interpolation=cv2.INTER_CUBIC)  # 50.4 MP
    reading = read_protocol(_jpeg(big, 80), mazhilis)
    assert reading.problem is None
    truth = s.truth["figures"]
    accepted = [f for f in reading.fields if f.status is Status.ACCEPTED]
    assert len(accepted) >= 8
    assert all(f.value == truth[f.key] for f in accepted)
    # boxes are in the big image's pixels
    assert max(f.box[0] + f.box[2] for f in accepted) > 3000
