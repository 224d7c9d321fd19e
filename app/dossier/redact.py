"""Blurring faces of bystanders for the public edition (OpenCV's bundled Haar cascades).

Pure over bytes: image bytes in, redacted image bytes and the face boxes out. The caller
records the result as a derivative of the original (parent hash + operation).
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from base.errors import BrokenEnvironment

OPERATION = "blur-faces"
"""Operation name recorded on redacted derivatives."""
CASCADES: tuple[str, ...] = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_profileface.xml",
)
"""Cascades used, from ``cv2.data.haarcascades``."""
DETECT_MAX_PX = 1200
"""Images are scaled down to this longest side for detection (boxes scaled back)."""


class FaceDetectorMissing(BrokenEnvironment, RuntimeError):
    """OpenCV lacks the Haar cascades (e.g. OpenCV 5 without them): broken environment."""


@dataclass(frozen=True)
class Redaction:
    """Result of blurring the faces in one image."""

    data: bytes
    """The redacted image (JPEG for JPEG input, else PNG); EXIF is not carried over."""
    media_type: str
    """MIME type of ``data``."""
    boxes: tuple[tuple[int, int, int, int], ...]
    """Blurred areas as (x, y, width, height) in the upright image's pixels."""

    @property
    def faces(self) -> int:
        """Number of faces blurred."""
        return len(self.boxes)


_LOCAL = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    """The cascade ``name`` for this thread (a CascadeClassifier must not be shared)."""
    cache: dict[str, cv2.CascadeClassifier] = _LOCAL.__dict__.setdefault("cascades", {})
    if name not in cache:
        cache[name] = _load_cascade(name)
    return cache[name]


def _load_cascade(name: str) -> cv2.CascadeClassifier:
    base = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not base:
        raise FaceDetectorMissing(
            "this OpenCV has no Haar cascades; install opencv-python-headless>=4.8,<5"
        )
    path = os.path.join(base, name)
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        raise FaceDetectorMissing(f"cannot load Haar cascade {path}")
    return classifier


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Drop boxes mostly inside another (frontal and profile cascades overlap)."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        x, y, w, h = box
        inside = False
        for kx, ky, kw, kh in kept:
            ix = max(0, min(x + w, kx + kw) - max(x, kx))
            iy = max(0, min(y + h, ky + kh) - max(y, ky))
            if ix * iy >= 0.5 * w * h:
                inside = True
                break
        if not inside:
            kept.append(box)
    return kept


def detect_faces(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in an RGB array, found by the Haar cascades."""
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_MAX_PX / max(height, width))
    small = cv2.resize(rgb, (int(width * scale), int(height * scale))) if scale < 1 else rgb
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    min_side = max(20, int(min(gray.shape[:2]) * 0.03))
    found: list[tuple[int, int, int, int]] = []
    for name in CASCADES:
        hits = _cascade(name).detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_side, min_side)
        )
        for x, y, w, h in hits if len(hits) else []:
            found.append((int(x / scale), int(y / scale), int(w / scale), int(h / scale)))
    return _merge(found)


def _blur_box(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    pad_w, pad_h = int(w * 0.2), int(h * 0.25)
    x0, y0 = max(0, x - pad_w), max(0, y - pad_h)
    x1, y1 = min(rgb.shape[1], x + w + pad_w), min(rgb.shape[0], y + h + pad_h)
    region = rgb[y0:y1, x0:x1]
    # Average down to a 3x3 grid, then smooth: no eyes, nose or mouth survive, and the
    # face detector itself no longer finds a face there.
    tiny = cv2.resize(region, (3, 3), interpolation=cv2.INTER_AREA)
    smooth = cv2.resize(tiny, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(region.shape[:2]) // 3) | 1)
    rgb[y0:y1, x0:x1] = cv2.GaussianBlur(smooth, (k, k), 0)
    return (x0, y0, x1 - x0, y1 - y0)


def blur_faces(data: bytes) -> Redaction:
    """Blur every face the cascades find in an image; returns the redacted image."""
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format
        upright = ImageOps.exif_transpose(img).convert("RGB")
    rgb = np.array(upright)
    boxes = tuple(_blur_box(rgb, box) for box in detect_faces(rgb))
    out = io.BytesIO()
    result = Image.fromarray(rgb)
    if fmt == "JPEG":
        result.save(out, "JPEG", quality=90)
        media_type = "image/jpeg"
    else:
        result.save(out, "PNG")
        media_type = "image/png"
    return Redaction(data=out.getvalue(), media_type=media_type, boxes=boxes)
