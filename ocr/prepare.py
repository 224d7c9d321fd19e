"""Image preparation: decode, refuse what cannot be a protocol photo, find the sheet,
undo perspective and rotation, even out the light.

Pure functions over arrays; no layout knowledge.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from enum import StrEnum

# OpenCV's own ceiling on the pixels it decodes (its default is a gigapixel), for a format
# whose header Pillow cannot read; set before OpenCV reads it, at its first decode.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(240_000_000))

import cv2
import numpy as np
from PIL import Image

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


def _header_size(data: bytes) -> tuple[int, int] | ImageProblem | None:
    """(width, height) as the file's header states them, without decoding the pixels; None
    when Pillow does not know the format (OpenCV's own pixel limit then applies)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return img.size
    except Image.DecompressionBombError:
        return ImageProblem.TOO_LARGE
    except (OSError, ValueError, SyntaxError):
        return None


def decode(data: bytes) -> tuple[np.ndarray, float] | ImageProblem:
    """Decode image bytes to (BGR array, factor from array to original pixels), or the
    problem that prevents it. Very large files are decoded at half size."""
    if len(data) < 16:
        return ImageProblem.NOT_AN_IMAGE
    # read the header first so a huge image (a decompression bomb: a few KB that decode to
    # gigabytes) is refused before it is decoded
    size = _header_size(data)
    if isinstance(size, ImageProblem):
        return size
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        return ImageProblem.TOO_LARGE
    buf = np.frombuffer(data, np.uint8)
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


#: Share of the sheet's size cut off all round when flattening it (margins are blank).
SHEET_INSET = 0.012
#: A sheet's outline must cover its ink blob this well (area ratio) to be trusted.
MIN_FIT = 0.9
#: A poorer fit (a hard shadow inside the sheet) is enough if the outline's edge contrast
#: is at least SHADOWED_CONTRAST.
SHADOWED_FIT = 0.6
SHADOWED_CONTRAST = 30.0
#: Largest ratio of opposite sides of a sheet outline: perspective of a hand-held phone
#: stays inside it; the outline of a lit part of a sheet cut by a shadow does not. (1.4
#: lost whole pages photographed at a slant, their outlines tight and sharp at 1.42-1.44;
#: on 960 generated photos, 1.5 found those four sheets and changed no other outline.)
MAX_SIDE_RATIO = 1.5
#: Largest |cos| of a corner angle of a sheet outline (about 60..120 degrees).
MAX_CORNER_COS = 0.5
#: Smallest colour contrast (CIELAB distance) across the outline for an edge of paper.
MIN_EDGE_CONTRAST = 10.0
#: How far (share of the image's longer side, in the small image the outline is sought
#: in) a side of the outline is looked around for the sheet's edge, to fit it exactly.
EDGE_SEARCH = 0.02
#: An outline whose corners the fitted edges move by no more than this many pixels (of
#: the small image) is kept as found: it is as good as the fit, and a sheet flattened a
#: few pixels otherwise reads its handwriting a little otherwise (on 240 hard dev photos,
#: 47 pages gained or lost a figure or more that way, 12 figures lost in all).
EDGE_KEEP = 2.5


def _order(quad: np.ndarray) -> np.ndarray:
    """Corners in the order tl, tr, br, bl: clockwise, starting at the top-left one."""
    c = quad.mean(axis=0)
    q = quad[np.argsort(np.arctan2(quad[:, 1] - c[1], quad[:, 0] - c[0]))]
    return np.roll(q, -int(np.argmin(q.sum(axis=1))), axis=0).astype(np.float32)


def _quad_from_mask(mask: np.ndarray, speck: int = 5) -> tuple[np.ndarray, float] | None:
    """Four corners of the largest blob of ``mask`` and how well they fit it (0..1).

    Specks (noise, texture of the table) up to ``speck`` pixels are opened away first:
    closed into the sheet's blob they would make a larger, wrong outline."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((speck, speck), np.uint8))
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
    return _order(quad), min(area / qarea, qarea / area)


def _plausible(quad: np.ndarray) -> bool:
    """True when ``quad`` (ordered) can be a flat sheet seen by a hand-held camera:
    opposite sides of similar length and no very sharp or very blunt corner."""
    sides = [float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4)]
    if min(sides) <= 1.0:
        return False
    for a, b in ((sides[0], sides[2]), (sides[1], sides[3])):
        if max(a, b) / min(a, b) > MAX_SIDE_RATIO:
            return False
    for i in range(4):
        u = quad[i - 1] - quad[i]
        v = quad[(i + 1) % 4] - quad[i]
        if abs(float(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v))) > MAX_CORNER_COS:
            return False
    return True


def _inward(quad: np.ndarray, i: int) -> np.ndarray:
    """The unit normal of side ``i`` (corner i to corner i + 1) of ``quad``, pointing in."""
    a, b = quad[i], quad[(i + 1) % 4]
    n = np.array([a[1] - b[1], b[0] - a[0]], np.float32)
    n /= max(float(np.linalg.norm(n)), 1e-6)
    return n if float(n @ (quad.mean(axis=0) - (a + b) / 2)) >= 0 else -n


def _edge_contrast(lab: np.ndarray, quad: np.ndarray) -> float:
    """How clearly ``quad`` follows an edge of the image: for each side, the median colour
    distance between points just inside and just outside it; the weakest side counts.
    Sides along the image border (nothing outside) are not counted."""
    h, w = lab.shape[:2]
    d = 0.012 * max(h, w) + 2
    t = np.linspace(0.1, 0.9, 30)[:, None]
    scores = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        n = _inward(quad, i)
        p = a + (b - a) * t
        pin = np.round(p + n * d).astype(int)
        pout = np.round(p - n * d).astype(int)
        ok = (
            (pin[:, 0] >= 0) & (pin[:, 0] < w) & (pin[:, 1] >= 0) & (pin[:, 1] < h)
            & (pout[:, 0] >= 0) & (pout[:, 0] < w) & (pout[:, 1] >= 0) & (pout[:, 1] < h)
        )  # fmt: skip
        if ok.sum() < 5:
            continue
        diff = lab[pin[ok, 1], pin[ok, 0]] - lab[pout[ok, 1], pout[ok, 0]]
        scores.append(float(np.median(np.linalg.norm(diff.reshape(len(diff), -1), axis=1))))
    return min(scores) if scores else 0.0


def _edge_line(
    lab: np.ndarray, a: np.ndarray, b: np.ndarray, inward: np.ndarray
) -> np.ndarray | None:
    """The line (point, direction) of the sharpest colour edge along the side ``a``-``b``
    of an outline: looked for across the side, ``EDGE_SEARCH`` either way, at 40 points
    of its middle; fitted robustly (an edge of text or shadow at some points is outvoted).
    None when fewer than half of the points find an edge."""
    h, w = lab.shape[:2]
    r = max(3, round(EDGE_SEARCH * max(h, w)))
    steps = np.arange(-r, r + 1, dtype=np.float32)
    found = []
    for t in np.linspace(0.1, 0.9, 40):
        p = a + (b - a) * t
        q = np.round(p[None, :] + inward[None, :] * steps[:, None]).astype(int)
        if q.min() < 0 or q[:, 0].max() >= w or q[:, 1].max() >= h:
            continue
        prof = lab[q[:, 1], q[:, 0]].reshape(len(steps), -1)
        jump = np.linalg.norm(prof[2:] - prof[:-2], axis=1)
        k = int(np.argmax(jump))
        if jump[k] >= MIN_EDGE_CONTRAST:
            found.append(p + inward * steps[k + 1])
    if len(found) < 20:
        return None
    vx, vy, x0, y0 = cv2.fitLine(
        np.asarray(found, np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01
    ).ravel()
    return np.array([x0, y0, vx, vy], np.float32)


def _refine(lab: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The outline ``quad`` (ordered) with its corners where the sheet's edges, fitted
    exactly (:func:`_edge_line`), cross; ``quad`` itself if an edge is not found.

    The outline of a blob is only as good as the blob: a speck of the table joined at a
    corner moved that corner 7 pixels out of 700, and the flattened sheet was left sheared
    so that each figure stood level with the next row's label (seven accepted wrong)."""
    lines = []
    for i in range(4):
        line = _edge_line(lab, quad[i], quad[(i + 1) % 4], _inward(quad, i))
        if line is None:
            return quad
        lines.append(line)
    corners = []
    for i in range(4):  # corner i: where side i-1 meets side i
        (x1, y1, dx1, dy1), (x2, y2, dx2, dy2) = lines[i - 1], lines[i]
        det = dx1 * (-dy2) - dy1 * (-dx2)
        if abs(det) < 1e-3:
            return quad
        s = ((x2 - x1) * (-dy2) - (y2 - y1) * (-dx2)) / det
        corners.append((x1 + s * dx1, y1 + s * dy1))
    refined = np.array(corners, np.float32)
    moved = float(np.linalg.norm(refined - quad, axis=1).max())
    if not EDGE_KEEP < moved <= 2 * EDGE_SEARCH * max(lab.shape[:2]) or not _plausible(refined):
        return quad
    return refined


def _sheet_masks(small: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Candidate masks of the sheet, and the image in CIELAB (float) for edge contrast.

    Paper is bright and either colourless or of its own tint; a shadow darkens it but
    does not change its colour. So: brightness minus saturation ("paperness"); low and
    high saturation (white paper on a coloured table, cream paper on a grey one);
    brightness; distance from the colour of the image border (the table), and from its
    colour alone, lightness left out (a shadow across the sheet cut every other mask of
    six hard photos in two, and their pages were lost whole)."""
    masks = []
    if small.ndim == 3:
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        paper = np.clip(
            hsv[..., 2].astype(np.int16) - 2 * hsv[..., 1].astype(np.int16), 0, 255
        ).astype(np.uint8)
        masks.append(cv2.threshold(paper, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1])
        sat = cv2.threshold(hsv[..., 1], 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
        masks += [cv2.bitwise_not(sat), sat]
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    else:
        gray = small
        lab = small.astype(np.float32)[..., None]
    masks.append(cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1])
    b = max(3, int(0.03 * min(lab.shape[:2])))
    ch = lab.shape[2]
    border = np.concatenate(
        [lab[:b].reshape(-1, ch), lab[-b:].reshape(-1, ch)]
        + [lab[:, :b].reshape(-1, ch), lab[:, -b:].reshape(-1, ch)]
    )
    off_table = lab - np.median(border, axis=0)
    weights = np.ones(ch, np.float32)
    weights[0] = 0.5  # lightness varies with light and shadow more than colour does
    masks.append(_otsu(np.sqrt(((off_table * weights) ** 2).sum(axis=2))))
    if ch == 3:  # colour alone: a shadow darkens paper and table but leaves their colours
        masks.append(_otsu(np.sqrt((off_table[..., 1:] ** 2).sum(axis=2))))
    return masks, lab


def _otsu(dist: np.ndarray) -> np.ndarray:
    """``dist`` (float, >= 0) scaled to 0..255 and split in two by Otsu's threshold."""
    dist8 = np.clip(dist * 255.0 / max(float(dist.max()), 1.0), 0, 255).astype(np.uint8)
    return cv2.threshold(dist8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def find_sheet(img: np.ndarray) -> np.ndarray | None:
    """Corners (tl, tr, br, bl) of the paper sheet in a BGR or gray image, or None.

    Each candidate mask (:func:`_sheet_masks`) gives the outline of its largest blob. An
    outline is kept when it fits its blob, has the shape of a flat sheet in perspective,
    and runs along a real edge of the image on every side (a blob glued to the table's
    texture or cut by a shadow fails one of these). Of those whose edges are about as
    clear as the clearest, the largest wins: a sheet, not the lit part of it.
    """
    h, w = img.shape[:2]
    k = 700.0 / max(h, w)
    small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    masks, lab = _sheet_masks(small)
    cands: list[tuple[float, float, np.ndarray]] = []
    for m in masks:
        for speck in (5, 11):  # fine grain of the table; coarse grain, dense noise
            found = _quad_from_mask(m, speck)
            if found is None or found[1] < SHADOWED_FIT or not _plausible(found[0]):
                continue
            quad, fit = found
            contrast = _edge_contrast(lab, quad)
            # a blob that fits its outline poorly is still the sheet when the outline
            # runs along a clear paper edge all round: a shadow darkens part of it
            if fit >= MIN_FIT or contrast >= SHADOWED_CONTRAST:
                cands.append((cv2.contourArea(quad), contrast, quad))
    if not cands:
        return None
    clearest = max(c[1] for c in cands)
    good = [c for c in cands if c[1] >= max(MIN_EDGE_CONTRAST, 0.6 * clearest)]
    if not good:
        return None
    return _refine(lab, max(good, key=lambda c: c[0])[2]) / k


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


def ink_view(gray: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``gray`` where ``keep`` (a boolean ink mask: the text, rules and dots removed) or
    next to it, white elsewhere. Blurred small print survives better in grey for
    Tesseract's own binarization than in a fixed threshold."""
    near = cv2.dilate(keep.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return np.where(near, gray, 255).astype(np.uint8)


def stray_ink(
    binary: np.ndarray, box: tuple[int, int, int, int], explained: list[tuple[int, int, int, int]]
) -> float:
    """Share of the pixels of ``box`` (x0, y0, x1, y1) that are ink of ``binary`` outside
    every ``explained`` box: text there that no reading accounts for."""
    h, w = binary.shape
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    region = binary[y0:y1, x0:x1] > 0
    for ex0, ey0, ex1, ey1 in explained:
        region[max(0, ey0 - y0) : max(0, ey1 - y0), max(0, ex0 - x0) : max(0, ex1 - x0)] = False
    return float(region.mean())


_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def turn(prep: Prepared, degrees: int) -> Prepared:
    """``prep`` turned clockwise by 90, 180 or 270 degrees (a sheet photographed sideways
    or upside down), its homography to the image kept exact."""
    if degrees % 360 == 0:
        return prep
    h, w = prep.gray.shape
    # new (x', y') -> old (x, y), in homogeneous coordinates
    back = {
        90: np.array([[0, 1, 0], [-1, 0, h - 1], [0, 0, 1]], np.float64),
        180: np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1]], np.float64),
        270: np.array([[0, -1, w - 1], [1, 0, 0], [0, 0, 1]], np.float64),
    }[degrees % 360]
    code = _ROTATE[degrees % 360]
    return Prepared(
        cv2.rotate(prep.gray, code),
        cv2.rotate(prep.binary, code),
        prep.sheet_found,
        prep.to_image @ back,
    )


#: Largest skew of the text lines looked for after the sheet is flattened (degrees), and
#: the least one worth undoing. A sheet whose outline was not found keeps the photo's own
#: rotation; a figure half a row above its label's line is read as the row above's.
MAX_SKEW = 15.0
MIN_SKEW = 0.2


def skew_angle(binary: np.ndarray) -> float:
    """The rotation (degrees, counter-clockwise) that levels the ink's lines: the angle
    whose rotation makes the row and column sums of the ink most uneven (the projection
    profiles of text lines and rules are sharpest when level). Coarse, then fine."""
    k = 500 / binary.shape[1]
    small = cv2.resize(binary, None, fx=k, fy=k, interpolation=cv2.INTER_AREA).astype(np.float32)
    h, w = small.shape

    def sharpness(angle: float) -> float:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        r = cv2.warpAffine(small, m, (w, h), flags=cv2.INTER_LINEAR)
        return float(np.var(r.sum(axis=1)) + np.var(r.sum(axis=0)))

    coarse = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.5, 1.0), key=sharpness)
    return float(max(np.arange(coarse - 0.9, coarse + 0.95, 0.1), key=sharpness))


def _binarize(gray: np.ndarray) -> np.ndarray:
    return cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )


def _rotated(flat: np.ndarray, to_image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``flat`` rotated by ``angle`` degrees (counter-clockwise) about its centre, and its
    homography to the image kept exact."""
    h, w = flat.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    level = cv2.warpAffine(flat, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back = np.vstack([cv2.invertAffineTransform(m), [0.0, 0.0, 1.0]])
    return level, to_image @ back


def level(prep: Prepared, angle: float) -> Prepared:
    """``prep`` turned by ``angle`` degrees (counter-clockwise), binarized again, its
    homography to the image kept exact: for text lines found still askew."""
    flat, to_image = _rotated(prep.gray, prep.to_image, angle)
    return Prepared(flat, _binarize(flat), prep.sheet_found, to_image)


def prepare(img: np.ndarray) -> Prepared | ImageProblem:
    """Sheet found, flattened, light evened and binarized; BLANK if it carries no ink.

    A protocol is a portrait sheet: a sheet found lying sideways (wider than tall) is
    turned a quarter clockwise; whether that (or any) turn made the text upright is
    for the reader to find out (:func:`turn`)."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    quad = find_sheet(img)
    found = quad is not None
    if quad is not None:
        # a little inside the outline, so no strip of the table is taken for ink at the
        # sheet's edge (a stroke there was read as a letter before a row's number)
        centre = quad.mean(axis=0)
        quad = (centre + (quad - centre) * (1 - SHEET_INSET)).astype(np.float32)
        tl, tr, br, bl = quad
        width = float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
        height = float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
        if width > 1.1 * height:  # sideways: the left side becomes the top
            quad = np.array([bl, tl, tr, br], np.float32)
            width, height = height, width
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
    prep = Prepared(flat, _binarize(flat), found, to_image)
    angle = skew_angle(prep.binary)  # still askew (no outline found, or found a little off)
    if abs(angle) >= MIN_SKEW:
        prep = level(prep, angle)
    if (prep.binary > 0).mean() < 0.002:
        return ImageProblem.BLANK
    return prep
