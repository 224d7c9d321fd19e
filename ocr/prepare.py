"""Image preparation: decode, refuse what cannot be a protocol photo, find the sheet,
undo perspective and rotation, even out the light.

Pure functions over arrays; no layout knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

#: Width, in pixels, the sheet is warped to before reading.
SHEET_WIDTH = 1500
MIN_SIDE = 500
A4 = 2**0.5
MAX_PIXELS = 120_000_000


class ImageProblem(StrEnum):
    """Why an image cannot be read at all."""

    NOT_AN_IMAGE = "not_an_image"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    BLANK = "blank_page"


@dataclass(frozen=True)
class Prepared:
    """A sheet ready for reading."""

    gray: np.ndarray
    """Light-evened grayscale sheet, text dark on white, SHEET_WIDTH wide."""
    binary: np.ndarray
    """Ink mask of ``gray`` (ink = 255)."""
    sheet_found: bool
    """True when a sheet outline was found and its perspective undone."""
    to_image: np.ndarray
    """3x3 homography from sheet coordinates to the decoded image's coordinates."""


def decode(data: bytes) -> tuple[np.ndarray, float] | ImageProblem:
    """Decode image bytes to (BGR array, factor from array to original pixels), or the
    problem that prevents it. Very large files are decoded at half size."""
    if len(data) < 16:
        return ImageProblem.NOT_AN_IMAGE
    buf = np.frombuffer(data, np.uint8)
    # read the header first so a huge image is refused before it is decoded
    reduced = len(data) > 12_000_000
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_2 if reduced else cv2.IMREAD_COLOR)
    except cv2.error:
        return ImageProblem.NOT_AN_IMAGE
    if img is None:
        return ImageProblem.NOT_AN_IMAGE
    h, w = img.shape[:2]
    factor = 2.0 if reduced else 1.0
    if h * w * factor * factor > MAX_PIXELS:
        return ImageProblem.TOO_LARGE
    if min(h, w) * factor < MIN_SIDE:
        return ImageProblem.TOO_SMALL
    if max(h, w) > 5000:  # a 50-megapixel photo: read it at a size that is plenty for text
        k = 5000 / max(h, w)
        img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        factor /= k
    return img, factor


def _order(quad: np.ndarray) -> np.ndarray:
    s = quad.sum(axis=1)
    d = np.diff(quad, axis=1).ravel()
    return np.array(
        [quad[s.argmin()], quad[d.argmin()], quad[s.argmax()], quad[d.argmax()]], np.float32
    )


def _quad_from_mask(mask: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Four corners of the largest blob of ``mask`` and how well they fit it (0..1)."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c)
    if area < 0.2 * mask.size or area > 0.97 * mask.size:
        return None
    hull = cv2.convexHull(c)
    peri = cv2.arcLength(hull, True)
    for eps in (0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
    else:
        quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)
    qarea = cv2.contourArea(quad)
    if qarea <= 0:
        return None
    return quad, min(area / qarea, qarea / area)


def find_sheet(img: np.ndarray) -> np.ndarray | None:
    """Corners (tl, tr, br, bl) of the paper sheet in a BGR or gray image, or None.

    Paper is bright and colourless; shadows make it darker but not coloured. Masks by
    brightness and by "paperness" (brightness minus twice the saturation) are both
    tried; the largest quadrilateral that fits its blob well wins.
    """
    h, w = img.shape[:2]
    k = 700.0 / max(h, w)
    small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    masks = []
    if small.ndim == 3:
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        paper = np.clip(
            hsv[..., 2].astype(np.int16) - 2 * hsv[..., 1].astype(np.int16), 0, 255
        ).astype(np.uint8)
        masks.append(cv2.threshold(paper, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1])
        # a shadow darkens paper but leaves it colourless: saturation alone, on coloured ground
        masks.append(cv2.threshold(hsv[..., 1], 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1])
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    else:
        gray = small
    masks.append(cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1])
    best: tuple[float, np.ndarray] | None = None
    for m in masks:
        found = _quad_from_mask(m)
        if found is None or found[1] < 0.85:
            continue
        quad, _ = found
        area = cv2.contourArea(quad)
        if best is None or area > best[0]:
            best = (area, quad)
    return None if best is None else _order(best[1] / k)


def even_light(gray: np.ndarray) -> np.ndarray:
    """Divide by the estimated paper brightness so the background is white everywhere."""
    h, w = gray.shape
    k = 0.25
    small = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    bg = cv2.dilate(small, np.ones((9, 9), np.uint8))
    bg = cv2.medianBlur(bg, 15)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    out = gray.astype(np.float32) / np.maximum(bg, 1.0) * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def prepare(img: np.ndarray) -> Prepared | ImageProblem:
    """Sheet found, flattened, light evened and binarized; BLANK if it carries no ink."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    quad = find_sheet(img)
    found = quad is not None
    if quad is not None:
        tl, tr, br, bl = quad
        width = float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
        height = float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
        ratio = height / max(width, 1.0)
        if abs(ratio - A4) < 0.3 * A4:  # perspective skews the measured sides: protocols are A4
            ratio = A4
        out_h = int(SHEET_WIDTH * ratio)
        if not 0.5 < out_h / SHEET_WIDTH < 2.5:
            found = False
        else:
            dst = np.array([[0, 0], [SHEET_WIDTH, 0], [SHEET_WIDTH, out_h], [0, out_h]], np.float32)
            m = cv2.getPerspectiveTransform(quad, dst)
            to_image = np.linalg.inv(m)
            # a little inside the edge so the table's own background is not taken
            flat = cv2.warpPerspective(
                gray, m, (SHEET_WIDTH, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
            )
    if not found:
        k = SHEET_WIDTH / gray.shape[1]
        flat = cv2.resize(
            gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
        )
        to_image = np.diag([1 / k, 1 / k, 1.0])
    flat = even_light(flat)
    binary = cv2.adaptiveThreshold(
        flat, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )
    if (binary > 0).mean() < 0.002:
        return ImageProblem.BLANK
    return Prepared(flat, binary, found, to_image)
