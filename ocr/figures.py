"""Locate and read the figure that belongs to a found label.

Pure functions over the prepared sheet: the region to the right of the label (and a
little below it), with table rules, dotted leaders and already-explained text masked
out, is cut into clusters of ink; the first cluster is the figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr.digits import DigitGuess, GlyphReader, normalize_glyph
from ocr.engine import Word, run_tesseract, run_tesseract_each
from ocr.layout import Line


@dataclass(frozen=True)
class ModelReading:
    """The digit model's reading of a figure."""

    digits: str | None
    """The digits, or None if a glyph is not a digit or nothing was found."""
    confidence: float
    """Lowest per-glyph probability."""
    guesses: tuple[DigitGuess, ...]
    glyphs: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    """The normalized glyphs read, for a second model."""
    inks: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    """Each glyph's ink as cut from the figure's mask (its strokes' thickness kept)."""


#: Height, in text heights, from which a vertical stroke is a rule. A handwritten "1" may
#: stand 2.35 text heights tall (47 px by 20 px print): at 2.2 its stem was cut out as a rule.
RULE_TALL = 2.6


def horizontal_rules(binary: np.ndarray, lh: float) -> np.ndarray:
    """The ink of ``binary`` in unbroken horizontal strokes three text heights long or more."""
    return cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (int(3 * lh), 1))
    )


def clean_binary(binary: np.ndarray, lh: float, box_sides: bool = True) -> np.ndarray:
    """Ink mask with long horizontal and vertical rules removed, and (``box_sides``) the
    short sides of boxes."""
    horiz = horizontal_rules(binary, lh)
    vert = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, int(RULE_TALL * lh)))
    )
    rules = cv2.bitwise_or(horiz, vert)
    if box_sides:
        rules = cv2.bitwise_or(rules, _box_sides(binary, horiz, lh))
    rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))
    return cv2.bitwise_and(binary, cv2.bitwise_not(rules))


def _box_sides(binary: np.ndarray, horiz: np.ndarray, lh: float) -> np.ndarray:
    """Sides of boxes too short to be removed as rules (a small box round a figure, or
    the text height over-estimated): straight strokes from a horizontal rule at their top
    to one at their bottom. Left in, a side reads as a "1" beside the figure ("129" for
    29). A digit inside a box touches neither of its rules."""
    stroke = max(3, int(0.8 * lh))
    uprights = cv2.morphologyEx(
        binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, stroke))
    )
    n, lab, st, _ = cv2.connectedComponentsWithStats(uprights, connectivity=8)
    reach = max(2, int(0.15 * lh))
    sides = []
    for i in range(1, n):
        x, y, w, h, _ = st[i]
        if w > 0.3 * lh:
            continue
        top = horiz[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + w + reach]
        bot = horiz[max(0, y + h - reach - 1) : y + h + reach, max(0, x - reach) : x + w + reach]
        if top.any() and bot.any():
            sides.append(i)
    return np.where(np.isin(lab, sides), 255, 0).astype(np.uint8)


def text_height(binary: np.ndarray) -> float:
    """Median height of glyph-sized ink components: a first estimate of the text size."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    hs = stats[1:, 3]
    hs = hs[(hs >= 10) & (hs < 90)]  # dots of leaders and specks are not text
    return float(np.median(hs)) if len(hs) else 20.0


def _word_inks(
    binary: np.ndarray, lines: list[Line]
) -> Iterator[tuple[Line, Word, int, np.ndarray]]:
    """For each word of three or more letters with ink under its box: its line, the word,
    the top of its box on the page, and the (row, column) indices of that ink in the box."""
    for ln in lines:
        for w in ln.words:
            if sum(c.isalpha() for c in w.text) < 3:
                continue
            x, y, ww, hh = w.box
            top = max(0, y)
            ink = np.nonzero(binary[top : y + hh, max(0, x) : x + ww])
            if len(ink[0]):
                yield ln, w, top, np.stack(ink)


def word_height(binary: np.ndarray, lines: list[Line]) -> float:
    """Median height of the ink inside words of three or more letters (about the font
    size). Tesseract's own boxes are no measure on a blurred sheet read in grey: they
    take in the blur (37 px boxes round 23 px letters), and a figure then looks too
    small to be one."""
    hs = [int(ink[0].max() - ink[0].min() + 1) for _, _, _, ink in _word_inks(binary, lines)]
    return float(np.median(hs)) if hs else 24.0


def text_slope(binary: np.ndarray, lines: list[Line]) -> float | None:
    """The slope (dy/dx) of the page's text lines, median over the lines with two or
    more words of three or more letters far enough apart (each word placed at its ink's
    centre), or None with fewer than three such lines. A sheet whose outline was not
    found, on a busy table, can stay turned by degrees: Tesseract then cuts its rows into
    pieces, and a figure at the row's far end stands level with another row's label."""
    centres: dict[int, list[tuple[float, float]]] = {}
    for ln, w, top, ink in _word_inks(binary, lines):
        if ink.shape[1] >= 5:
            centres.setdefault(id(ln), []).append((w.box[0] + w.box[2] / 2, top + ink[0].mean()))
    slopes = []
    for pts in centres.values():
        if len(pts) >= 2 and pts[-1][0] - pts[0][0] >= 100:
            xs, ys = np.array(pts).T
            slopes.append(float(np.polyfit(xs, ys, 1)[0]))
    return float(np.median(slopes)) if len(slopes) >= 3 else None


def text_image(binary: np.ndarray, scale: float) -> np.ndarray:
    """What Tesseract is given: black ink on white, table rules and dotted leaders removed,
    scaled by ``scale``. Rules and dots cost Tesseract time and confuse its layout analysis."""
    th = text_height(binary)
    cb = clean_binary(binary, 1.3 * th)
    n, lab, st, _ = cv2.connectedComponentsWithStats(cb, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = np.maximum(st[1:, 2], st[1:, 3]) >= 0.45 * th
    img = np.where(keep[lab], 0, 255).astype(np.uint8)
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def label_words(lines: list[Line], lh: float) -> list[Word]:
    """The words of a label: each line's words up to the first run of dots or digits, or
    up to a gap wider than two text heights (beyond it lies the figure)."""
    out: list[Word] = []
    for ln in lines:
        prev_end = None
        for w in ln.words:
            letters = sum(c.isalpha() for c in w.text)
            wordlike = letters >= max(1, len(w.text) // 2)
            if prev_end is None:
                if wordlike:  # leading row numbers ("1", "12.") are not the label
                    out.append(w)
                    prev_end = w.box[0] + w.box[2]
                continue
            if w.box[0] - prev_end > 2 * lh or not wordlike:
                break
            out.append(w)
            prev_end = w.box[0] + w.box[2]
    return out


def find_clusters(
    clean: np.ndarray, x0: int, y_top: int, y_bot: int, lh: float
) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Clusters of glyph-sized ink right of ``x0`` whose centres lie in [y_top, y_bot],
    left to right: each its box (x, y, w, h) and its own ink mask (same size as the box)."""
    h_img, w_img = clean.shape
    pad = int(lh)
    ys, ye = max(0, y_top - pad), min(h_img, y_bot + pad)
    x0 = max(0, min(w_img - 1, x0))
    sub = clean[ys:ye, x0:]
    if sub.size == 0:
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
    comps = []
    pieces = []  # too small to be a glyph: a stroke broken off one ("2"'s foot), or a dot
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        cy = ys + y + h / 2
        if h > 3.2 * lh or w > 3.5 * lh or not y_top - lh <= cy <= y_bot + lh:
            continue
        # a leader's dot, blurred into a solid blob, may stand 0.4 text heights tall
        dot = h < 0.5 * lh and w < 0.5 * lh and area >= 0.5 * w * h
        if dot or h < 0.4 * lh or area < 0.03 * lh * lh:
            if area >= 4 and w <= 1.2 * lh and max(w, h) >= 0.08 * lh:
                pieces.append((int(x), int(y), int(w), int(h), i))
            continue
        if not y_top <= cy <= y_bot:
            continue
        comps.append((int(x), int(y), int(w), int(h), i))
    comps.sort()
    groups: list[list[tuple[int, int, int, int, int]]] = []
    right = -(10**9)
    for c in comps:
        # a new figure begins after a gap wider than its glyphs are tall (handwriting
        # spaces its digits more widely than print, relative to the label text); tall as
        # the figure so far stands, not its pieces (a "1" broken in two is no shorter)
        tall = lh
        if groups:
            top = min(g[1] for g in groups[-1])
            tall = max(lh, float(max(g[1] + g[3] for g in groups[-1]) - top))
        if not groups or c[0] - right > 0.9 * tall:
            groups.append([])
        groups[-1].append(c)
        right = max(right, c[0] + c[2]) if len(groups[-1]) > 1 else c[0] + c[2]
    near = max(2.0, 0.12 * lh)
    for cluster in groups:
        # a piece just above or below a glyph of the figure, within its width, is part
        # of that glyph (left out, a "2" broken at its foot reads as "7"); leader dots
        # and specks beside the figure are not
        for p in pieces:
            if any(
                p[0] < c[0] + c[2]
                and c[0] < p[0] + p[2]
                and max(c[1] - (p[1] + p[3]), p[1] - (c[1] + c[3])) <= near
                for c in cluster
            ):
                cluster.append(p)
    out = []
    for cluster in (band for group in groups for band in _bands_of(group, lh)):
        bx0 = min(c[0] for c in cluster)
        by0 = min(c[1] for c in cluster)
        bx1 = max(c[0] + c[2] for c in cluster)
        by1 = max(c[1] + c[3] for c in cluster)
        mask = np.isin(labels[by0:by1, bx0:bx1], [c[4] for c in cluster]).astype(np.uint8) * 255
        out.append(((x0 + bx0, ys + by0, bx1 - bx0, by1 - by0), mask))
    return out


#: A cluster taller than this many text lines whose ink leaves a level gap of BAND_GAP lines
#: or more across its whole width is lines stacked one above the other, not one figure.
BAND_TALL = 1.5
BAND_GAP = 0.3


def _bands_of(
    cluster: list[tuple[int, int, int, int, int]], lh: float
) -> list[list[tuple[int, int, int, int, int]]]:
    """``cluster`` split into the lines of ink it stacks, top first: a figure with its
    number in words printed close under it ("36" over "(отыз алты)", the words not read
    as a line), two rows' figures one above the other. A single figure, however tall its
    glyphs or broken its strokes, leaves no level gap of BAND_GAP lines across its width."""
    if max(c[1] + c[3] for c in cluster) - min(c[1] for c in cluster) <= BAND_TALL * lh:
        return [cluster]
    bands: list[list[tuple[int, int, int, int, int]]] = []
    bottom = -(10**9)
    for c in sorted(cluster, key=lambda c: c[1]):
        if c[1] - bottom >= BAND_GAP * lh:
            bands.append([])
        bands[-1].append(c)
        bottom = max(bottom, c[1] + c[3])
    return [sorted(b) for b in bands]


def isolated(
    clean: np.ndarray, box: tuple[int, int, int, int], lh: float, reach: float = 0.0
) -> bool:
    """True when no ink as tall as the figure's glyphs lies just left or right of it at
    the same level: a figure with such a neighbour may have been cut short (a digit left
    out, or a stray mark taken in), so it must not be accepted. "Just": within 1.3 glyph
    heights or two text lines, or ``reach`` when further (on a page of digit boxes, the
    next box's glyph can stand further off than that: a "1" centred in its box)."""
    x, y, w, h = box
    margin = int(max(1.3 * h, 2.0 * lh, reach))
    y0, y1 = max(0, y - h // 4), min(clean.shape[0], y + h + h // 4)
    for xa, xb in (
        (max(0, x - margin), max(0, x - 2)),
        (min(clean.shape[1], x + w + 2), min(clean.shape[1], x + w + margin)),
    ):
        if xb <= xa:
            continue
        n, _, st, _ = cv2.connectedComponentsWithStats(clean[y0:y1, xa:xb], connectivity=8)
        for i in range(1, n):
            if st[i, 3] >= 0.7 * h and st[i, 2] >= 3:
                return False
            # close by, a piece of a digit broken by a faint stroke counts too (not a dot)
            near = st[i, 0] + st[i, 2] >= (xb - xa) - 0.8 * h if xa < x else st[i, 0] <= 0.8 * h
            if near and st[i, 3] >= 0.35 * h and st[i, 3] * st[i, 2] >= 0.04 * h * h:
                return False
    return True


#: Ink inside a figure's box that is not the figure's own: a mark this large (its larger
#: side, its area, in text heights) may be a digit the figure's readers never saw.
INSIDE_TALL = 0.3
INSIDE_AREA = 0.06


def ink_inside(
    clean: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray, lh: float
) -> bool:
    """True when ink of ``clean`` inside the figure's ``box``, outside its own ink
    ``mask``, is large enough to be a digit written small or faint: a real hand's "849",
    its "4" a blot between the "8" and the "9", read 89 by every reader (the blot too small
    to be a glyph, and in no glyph's reach). Specks of the paper are smaller."""
    x, y, w, h = box
    region = (clean[y : y + h, x : x + w] > 0) & (mask == 0)
    if not region.any():
        return False
    n, _, st, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    return any(
        max(st[i, 2], st[i, 3]) >= INSIDE_TALL * lh and st[i, 4] >= INSIDE_AREA * lh * lh
        for i in range(1, n)
    )


def read_with_model(mask: np.ndarray, model: GlyphReader, lh: float) -> ModelReading:
    """Segment a figure's ink mask into glyphs and classify each."""
    from ocr.digits import segment

    boxes = segment(mask, lh)
    if not boxes or len(boxes) > 9:
        return ModelReading(None, 0.0, ())
    boxes = _merge_broken(mask, boxes, model)
    guesses: list[DigitGuess] = []
    glyphs: list[np.ndarray] = []
    inks: list[np.ndarray] = []
    for x, y, w, h in boxes:
        glyph = mask[y : y + h, x : x + w]
        norm = normalize_glyph(glyph)
        g = model.classify([norm])[0]
        if g.digit is None and w > 0.75 * h:
            split = _split_touching(glyph, model)
            if split is not None:
                guesses.extend(split[0])
                glyphs.extend(split[1])
                inks.extend(split[2])
                continue
        guesses.append(g)
        glyphs.append(norm)
        inks.append(glyph)
    if len(guesses) > 9:
        return ModelReading(None, 0.0, tuple(guesses), tuple(glyphs))
    return _reading(guesses, glyphs, inks)


def _reading(
    guesses: list[DigitGuess], glyphs: list[np.ndarray], inks: list[np.ndarray] | None = None
) -> ModelReading:
    low = min(g.confidence for g in guesses)
    digits = None
    if all(g.digit is not None for g in guesses):
        digits = "".join(str(g.digit) for g in guesses)
    return ModelReading(digits, low, tuple(guesses), tuple(glyphs), tuple(inks or ()))


def second_opinion(first: ModelReading, model_b: GlyphReader) -> ModelReading:
    """The second model's reading of the same glyphs the first model read."""
    if not first.glyphs:
        return ModelReading(None, 0.0, ())
    return _reading(model_b.classify(list(first.glyphs)), list(first.glyphs))


def _merge_broken(
    mask: np.ndarray, boxes: list[tuple[int, int, int, int]], model: GlyphReader
) -> list[tuple[int, int, int, int]]:
    """Join neighbouring pieces of one broken digit (a pen that skipped, a stencil-like
    hand): two adjacent boxes become one when together they are a confident digit of a
    digit-like shape and one of them alone is not a confident digit."""
    boxes = list(boxes)
    i = 0
    while i + 1 < len(boxes):
        a, b = boxes[i], boxes[i + 1]
        x0, y0 = min(a[0], b[0]), min(a[1], b[1])
        x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
        gap = b[0] - (a[0] + a[2])
        if gap <= 0.25 * (y1 - y0) and (x1 - x0) <= 0.95 * (y1 - y0):
            ga, gb, gm = model.classify(
                [
                    normalize_glyph(mask[a[1] : a[1] + a[3], a[0] : a[0] + a[2]]),
                    normalize_glyph(mask[b[1] : b[1] + b[3], b[0] : b[0] + b[2]]),
                    normalize_glyph(mask[y0:y1, x0:x1]),
                ]
            )
            weak = min(
                ga.confidence if ga.digit is not None else 0.0,
                gb.confidence if gb.digit is not None else 0.0,
            )
            if gm.digit is not None and gm.confidence >= 0.9 and weak < 0.6:
                boxes[i : i + 2] = [(x0, y0, x1 - x0, y1 - y0)]
                continue
        i += 1
    return boxes


def _split_touching(
    glyph: np.ndarray, model: GlyphReader
) -> tuple[list[DigitGuess], list[np.ndarray], list[np.ndarray]] | None:
    """Two digits that touch: cut at the thinnest column of the middle and classify both
    halves; None unless both halves are confident digits."""
    w = glyph.shape[1]
    cols = (glyph > 0).sum(axis=0)
    lo, hi = int(w * 0.3), int(w * 0.7)
    if hi <= lo:
        return None
    cut = lo + int(np.argmin(cols[lo:hi]))
    inks = [glyph[:, :cut], glyph[:, cut:]]
    halves = [normalize_glyph(ink) for ink in inks]
    guesses = model.classify(halves)
    if all(g.digit is not None and g.confidence >= 0.5 for g in guesses):
        return guesses, halves, inks
    return None


#: A glyph read "1" whose stroke is this many times as thick as the median of the figure's
#: other glyphs' strokes (twice their area over their outline's length) ...
ONE_THICK = 1.2
#: ... and whose rows across its middle hold this many times that much ink, is two "1"s
#: written into one stroke ("114" read 14 by every reader): a pen draws a "1" as one stroke.
#: Set from that one case (1.2 and 1.93); of the dev sets' 2,975 "1"s in real hands, read
#: right, none passes both (the most: 1.43 and 1.88).
ONE_ROWS = 1.9


def stroke_width(ink: np.ndarray) -> float:
    """A glyph's stroke thickness in pixels: twice its area over the length of its outlines
    (a stroke of length L and width w has area L*w and outlines 2L long)."""
    mask = (ink > 0).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / outline if outline else 0.0


def doubled_one(reading: ModelReading) -> bool:
    """Whether a glyph the reading took for "1" is as thick as two of the hand's strokes,
    across its middle: two "1"s written together, read as one (so the figure is a digit
    short). Judged against the figure's other glyphs (a figure of "1"s alone is not)."""
    digits = reading.digits
    if digits is None or "1" not in digits or len(reading.inks) != len(digits):
        return False
    glyphs = list(zip(reading.inks, digits, strict=True))
    others = [stroke_width(ink) for ink, d in glyphs if d != "1"]
    if not others:
        return False
    hand = float(np.median(others))
    if hand <= 0:
        return False
    for ink, d in glyphs:
        if d != "1" or stroke_width(ink) < ONE_THICK * hand:
            continue
        rows = (ink > 0).sum(axis=1)
        h = len(rows)
        middle = rows[h // 4 : 3 * h // 4]
        if len(middle) and float(np.median(middle)) >= ONE_ROWS * hand:
            return True
    return False


#: A glyph read "1" whose lowest fifth spreads wider than its stem by this share of its
#: height has a foot: written so, it can be a "2" (a small hook, a long stroke down and a
#: foot: MNIST's held-out "2" no reader tells from a "1", read 1 by all five, 0.93-0.98
#: sure, in "29", "91", "1101", "25", "26", "28" on the dev sets). Measured on MNIST's
#: digits drawn as the benchmark draws them: 1 % of its 4,000 training "1"s and 4 % of the
#: held-out ones reach it, and 95 % of 200 drawings of that "2" (a light pen can lose the
#: tip of its foot).
ONE_FOOT = 0.15
#: ... unless the foot reaches out on both sides of the stroke above it, each by at least
#: this share of the height: a base, as print gives its "1"s (DejaVu and Liberation: 0.17
#: to 0.24 on each side) and some hands do. The "2"'s foot is mostly one-sided: of another
#: 300 drawings of that "2", 86 % are still caught with this (92 % without it), and 1.4 %
#: of 1,200 of MNIST's other training "1"s (2.7 % without it).
BASE_SIDE = 0.14


def foot(ink: np.ndarray) -> tuple[float, float, float]:
    """How much wider a glyph's lowest fifth spreads than its stem (the median width of the
    rows from 35 % to 70 % of its height), and how far it reaches left and right of the
    stroke just above it (the median edges of the rows from 60 % to 78 %), each as a share
    of its height."""
    mask = ink > 0
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0.0, 0.0, 0.0
    mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h = mask.shape[0]
    rows = [np.flatnonzero(r) for r in mask]
    lefts = np.array([r[0] if len(r) else -1 for r in rows], np.float64)
    rights = np.array([r[-1] if len(r) else -1 for r in rows], np.float64)
    widths = np.where(rights >= 0, rights - lefts + 1, 0)

    def band(a: float, b: float) -> slice:
        return slice(int(a * h), max(int(a * h) + 1, int(b * h)))

    stem = float(np.median(widths[band(0.35, 0.7)]))
    low = band(0.6, 0.78)
    inked = rights[low] >= 0
    bottom = slice(int(0.8 * h), h)
    spread = float(widths[bottom].max() - stem) / h
    if not inked.any():
        return spread, 0.0, 0.0
    left = float(np.median(lefts[low][inked]) - lefts[bottom][rights[bottom] >= 0].min()) / h
    right = float(rights[bottom].max() - np.median(rights[low][inked])) / h
    return spread, left, right


def footed_one(reading: ModelReading) -> bool:
    """Whether a glyph the reading took for "1" has a one-sided foot (:func:`foot`: at least
    ONE_FOOT wider than its stem, less than BASE_SIDE out on one side): the figure can be one
    with a "2" written like a "1"."""
    digits = reading.digits
    if digits is None or "1" not in digits or len(reading.inks) != len(digits):
        return False
    for ink, d in zip(reading.inks, digits, strict=True):
        if d != "1":
            continue
        spread, left, right = foot(ink)
        if spread >= ONE_FOOT and min(left, right) < BASE_SIDE:
            return True
    return False


def read_with_tesseract(
    gray: np.ndarray, boxes: list[tuple[int, int, int, int]], lh: float
) -> list[tuple[str | None, float]]:
    """Read every figure crop in one Tesseract call (crops stacked), digits only.

    Returns (digits or None, confidence 0..1) per box, in order.
    """
    if not boxes:
        return []
    target_h = 44
    tiles = []
    for x, y, w, h in boxes:
        p = int(0.35 * lh)
        crop = gray[max(0, y - p) : y + h + p, max(0, x - p) : x + w + p]
        k = target_h / max(1, h)
        crop = cv2.resize(
            crop, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
        )
        tiles.append(crop)
    width = max(t.shape[1] for t in tiles) + 60
    gap = 36
    height = sum(t.shape[0] + gap for t in tiles) + gap
    canvas = np.full((height, width), 255, np.uint8)
    spans = []
    y = gap
    for t in tiles:
        canvas[y : y + t.shape[0], 30 : 30 + t.shape[1]] = t
        spans.append((y, y + t.shape[0]))
        y += t.shape[0] + gap
    res = run_tesseract(canvas, lang="eng", psm=6, config=_DIGITS_ONLY)
    out: list[tuple[str | None, float]] = []
    for y0, y1 in spans:
        ws = [w for w in res.words if y0 - 10 <= w.box[1] + w.box[3] / 2 <= y1 + 10]
        out.append(_digits_of(ws))
    # missed in the stack: each such crop read alone, as one line (by one Tesseract)
    missed = [n for n, reading in enumerate(out) if reading[0] is None]
    singles = [
        cv2.copyMakeBorder(tiles[n], 20, 20, 30, 30, cv2.BORDER_CONSTANT, value=255) for n in missed
    ]
    alone = run_tesseract_each(singles, lang="eng", psm=7, config=_DIGITS_ONLY)
    for n, single in zip(missed, alone, strict=True):
        out[n] = _digits_of(list(single.words))
    return out


_DIGITS_ONLY = ("tessedit_char_whitelist=0123456789", "tessedit_do_invert=0")


def _digits_of(words: list[Word]) -> tuple[str | None, float]:
    words = sorted(words, key=lambda w: w.box[0])
    text = "".join(w.text for w in words)
    if not text or not text.isdigit():
        return None, 0.0
    return text, min(w.conf for w in words) / 100.0


def to_image_box(
    box: tuple[int, int, int, int], to_image: np.ndarray, factor: float
) -> tuple[int, int, int, int]:
    """Map a sheet box (x, y, w, h) to the original image's pixels."""
    x, y, w, h = box
    pts = np.array([[[x, y]], [[x + w, y]], [[x + w, y + h]], [[x, y + h]]], np.float32)
    mapped = cv2.perspectiveTransform(pts, to_image.astype(np.float64)).reshape(-1, 2) * factor
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    return int(x0), int(y0), round(float(x1 - x0)), round(float(y1 - y0))


def gray_crop(gray: np.ndarray, box: tuple[int, int, int, int], pad: int) -> np.ndarray:
    """``box`` (x, y, w, h) of ``gray`` with ``pad`` pixels around (a view)."""
    x, y, w, h = box
    return gray[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]


def png_crop(gray: np.ndarray, box: tuple[int, int, int, int], pad: int) -> bytes:
    """PNG bytes of ``box`` (x, y, w, h) of ``gray`` with ``pad`` pixels around."""
    ok, buf = cv2.imencode(".png", gray_crop(gray, box, pad))
    return bytes(buf) if ok else b""
