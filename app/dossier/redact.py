"""Blurring faces of bystanders for the public edition (OpenCV's bundled Haar cascades).

Pure over bytes: image bytes in, redacted image bytes and the face boxes out. The caller
records the result as a derivative of the original (parent hash + operation).

Redaction must never hide evidence. A Haar cascade finds "faces" in the ruled header of a
protocol table, so: faces are looked for only outside the paper sheet the protocol reader finds
(:func:`ocr.prepare.find_sheet`); and every candidate must also look like a face, not a table
(no ruled lines across it, and, in a colour image, skin tones in its middle). Every region
blurred is returned with its box, for the exhibit page to list.
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
from ocr.prepare import find_sheet

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


SKIN_SHARE = 0.12
"""Least share of skin-toned pixels in the middle of a candidate in a colour image."""
LINE_SHARE = 0.6
"""A straight edge this long (share of the box's side) across a candidate is a ruled line."""
RULED_LINES = 2
"""This many ruled lines across a candidate make it a table or a form, not a face."""


def sheet_mask(rgb: np.ndarray) -> np.ndarray | None:
    """Where the paper sheet is (255) in the image, when the protocol reader finds one."""
    quad = find_sheet(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if quad is None:
        return None
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 255)
    return mask


def _ruled(gray: np.ndarray) -> bool:
    """True when straight lines run across most of the region at any angle (the rules of a
    table or a form, even on a tilted sheet); a face has none."""
    side = min(gray.shape[:2])
    if side < 16:
        return False
    edges = cv2.Canny(gray, 50, 150)
    lines = cv2.HoughLinesP(
        edges,
        1,
        np.pi / 180,
        threshold=int(0.4 * side),
        minLineLength=int(LINE_SHARE * side),
        maxLineGap=max(2, side // 40),
    )
    return lines is not None and len(lines) >= RULED_LINES


def is_colour(rgb: np.ndarray) -> bool:
    """Whether an image has colour to judge skin by (a grey scan or photo has not)."""
    small = rgb[:: max(1, rgb.shape[0] // 200), :: max(1, rgb.shape[1] // 200)]
    spread = small.max(axis=2).astype(np.int16) - small.min(axis=2).astype(np.int16)
    return float(np.mean(spread)) >= 6


def _skin_share(rgb: np.ndarray) -> float:
    """Share of skin-toned pixels (YCrCb) in the region."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    skin = (cr >= 133) & (cr <= 180) & (cb >= 77) & (cb <= 135)
    return float(np.mean(skin))


def looks_like_face(rgb: np.ndarray, box: tuple[int, int, int, int], colour: bool = True) -> bool:
    """The second check on a cascade's candidate: no ruled lines across it and, in a colour
    image (``colour``), skin tones in its middle."""
    x, y, w, h = box
    region = rgb[max(0, y) : y + h, max(0, x) : x + w]
    if region.size == 0:
        return False
    if _ruled(cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)):
        return False
    if not colour:
        return True
    rh, rw = region.shape[:2]
    return _skin_share(region[rh // 4 : rh - rh // 4, rw // 4 : rw - rw // 4]) >= SKIN_SHARE


def detect_faces(
    rgb: np.ndarray, *, outside: np.ndarray | None = None
) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h) in an RGB array: the Haar cascades' candidates that also look
    like faces (:func:`looks_like_face`). ``outside``: a mask (255) of where no face is looked
    for (the protocol sheet): a candidate lying more than a quarter on it is dropped."""
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
    colour = is_colour(rgb)
    return [
        box
        for box in _merge(found)
        if not _on_sheet(box, outside) and looks_like_face(rgb, box, colour)
    ]


def _on_sheet(box: tuple[int, int, int, int], sheet: np.ndarray | None) -> bool:
    if sheet is None:
        return False
    x, y, w, h = box
    region = sheet[max(0, y) : y + h, max(0, x) : x + w]
    return region.size > 0 and float(np.mean(region > 0)) > 0.25


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


def blur_faces(data: bytes, *, protocol: bool = False) -> Redaction:
    """Blur every face found in an image, outside the protocol sheet when ``protocol`` (a
    photo of a protocol: its sheet is found as the reader finds it); returns the redacted
    image and the boxes blurred."""
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format
        upright = ImageOps.exif_transpose(img).convert("RGB")
    rgb = np.array(upright)
    sheet = sheet_mask(rgb) if protocol else None
    boxes = tuple(_blur_box(rgb, box) for box in detect_faces(rgb, outside=sheet))
    if sheet is not None:
        # a face's blur is padded: it never spills onto the sheet's content
        original = np.array(upright)
        rgb[sheet > 0] = original[sheet > 0]
    out = io.BytesIO()
    result = Image.fromarray(rgb)
    if fmt == "JPEG":
        result.save(out, "JPEG", quality=90)
        media_type = "image/jpeg"
    else:
        result.save(out, "PNG")
        media_type = "image/png"
    return Redaction(data=out.getvalue(), media_type=media_type, boxes=boxes)
