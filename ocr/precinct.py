"""The precinct number printed on a protocol, read only when sure.

A protocol names its precinct in its header: "Избирательный участок № 495", "Участковая
избирательная комиссия № 495", "№ 495 сайлау учаскесі", "Сайлау учаскесі № 495", "№ 495
учаскелік сайлау комиссиясы", "Precinct No. 495"; typed, or written in by hand on the
printed line, its digits sometimes spaced apart ("№ 4 9 5").

The line is found among the page's text lines by its words: a precinct word ("участок",
"участковая", "учаскесі", "учаскелік", "УИК", "precinct") next to the number, with at most
the sign "№" (which Tesseract reads as anything: "Ме", "Ка", "No") and the words "избирательная
комиссия" / "сайлау комиссиясы" between them; a number near other words (an electoral
district's "округ № 5", a copy's "экземпляр № 1", a date) is never taken. The number's ink is
then cut out of the sheet and read by the figure readers (the two glyph networks, the
whole-figure network, Tesseract on the number alone), and taken only on the evidence a figure
is accepted on (:func:`ocr.decide.decide_digits`), and only when Tesseract read the same
digits on the page (or as many, with the three networks sure of theirs: it misreads
handwriting). Anything less is "not read", with the reason: a wrong number would say
that a sheet belongs to another precinct, so it is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr import figures as fig
from ocr.decide import decide_digits
from ocr.digits import load_model, load_model_b, normalize_glyph, segment
from ocr.engine import Word
from ocr.layout import Line, fold
from ocr.prepare import Prepared, ink_view
from ocr.result import PrecinctReading, PrecinctReason
from ocr.sequence import SequenceReading, load_sequence_model

#: Beginnings of the (folded) words that name a precinct: участок, участковая, учаскесі,
#: учаскелік, УИК; "precinct" (folded to look-alike Cyrillic, as Tesseract reads it in Kazakh).
PRECINCT_WORDS = ("участ", "учаск", "уик", "ргеси")
#: The nouns "участок" and "учаскесі" (folded): a number right after one of them (read to
#: within a letter) is the precinct's even with no sign read between (Tesseract often runs
#: the sign into the word: "участок)»"). Not "участке": "на избирательном участке 1840" is
#: a label's figure.
PRECINCT_NOUNS = ("участок", "учаскеси")
#: Beginnings of the words that may stand between a precinct word and its number:
#: избирательная, комиссия, сайлау, комиссиясы.
BETWEEN_WORDS = ("избират", "комисс", "саила")
#: At most this many such words between them.
MAX_BETWEEN = 2
#: Digits of a precinct number.
MAX_DIGITS = 5
#: Digits spaced apart are one number while the gap between them is at most this many
#: text heights.
SPACED_GAP = 1.6
#: Ink closer than this many text heights to the number, not part of it, may be a digit cut
#: off from it (a word space is about 0.4).
NEAR_INK = 0.22
#: Glyphs beside the number at least this share of its height are looked at as possible
#: digits (the "o" of "№" and "No" stands about 0.8 of a digit).
DIGIT_TALL = 0.86
#: Ink level with the number within this many text heights of it must be in a word Tesseract
#: read (else it may be a digit it dropped).
UNREAD_REACH = 3.0
#: What may follow the number on its line: the words of a Kazakh precinct line ("№ 495
#: сайлау учаскесі", "№ 495 учаскелік сайлау комиссиясы"), read from their first letter.
WORDS_AFTER = ("саил", "учаск", "участ", "комис", "избир")


def _digits(text: str) -> str | None:
    """The token's digits when it is a number (punctuation around it aside), else None."""
    t = text.strip(".,:;()[]\"'«»")
    return t if t.isdigit() and t.isascii() else None


def _sign(text: str) -> bool:
    """True for what Tesseract makes of the sign "№" (or "No", "N", "#"): a short token
    with no digit and nothing of a word."""
    t = text.strip(".,:;")
    return "№" in t or (0 < len(t) <= 3 and not any(c.isdigit() for c in t))


def _near(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are at most one letter apart (added, dropped or changed)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _is(word: Word, starts: tuple[str, ...]) -> bool:
    """True when the word begins with one of ``starts`` (folded; one letter misread in the
    beginnings of five letters or more: "иҙбирательная")."""
    f = fold(word.text).replace(" ", "")
    return any(
        f.startswith(k)
        or (len(k) >= 5 and any(_near(f[:n], k) for n in (len(k) - 1, len(k), len(k) + 1)))
        for k in starts
    )


def _named(words: tuple[Word, ...], start: int, end: int) -> bool:
    """True when the number ``words[start:end]`` is named as the precinct's by the words
    around it: the sign before it, and a precinct word before that ("участок № N",
    "участковая избирательная комиссия № N") or after the number ("№ N сайлау учаскесі",
    "№ N учаскелік ..."); or the noun "участок" / "учаскесі" right before it."""
    if start > 0 and any(_near(fold(words[start - 1].text), n) for n in PRECINCT_NOUNS):
        return True  # "участок 495": the sign lost in the word
    # else the sign "№" before the number, always: a figure at the end of a label that ends
    # in "участковой избирательной комиссией", or a date after it, is not named so
    if start == 0 or not _sign(words[start - 1].text) or _is(words[start - 1], PRECINCT_WORDS):
        return False
    i, between = start - 2, 0
    while i >= 0 and _is(words[i], BETWEEN_WORDS) and between < MAX_BETWEEN:
        i, between = i - 1, between + 1
    if i >= 0 and _is(words[i], PRECINCT_WORDS):
        return True
    j = end
    if j < len(words) and _is(words[j], BETWEEN_WORDS):
        j += 1
    return j < len(words) and _is(words[j], PRECINCT_WORDS)


def number_spans(line: Line, lh: float) -> list[tuple[int, int]]:
    """The spans (start, end) of ``line.words`` that are a number named as the precinct's:
    one token of digits, or several spaced apart by at most SPACED_GAP text heights."""
    words = line.words
    out = []
    i = 0
    while i < len(words):
        if _digits(words[i].text) is None:
            i += 1
            continue
        j = i + 1
        while j < len(words) and _digits(words[j].text) is not None:
            prev, nxt = words[j - 1].box, words[j].box
            if nxt[0] - (prev[0] + prev[2]) > SPACED_GAP * lh:
                break
            j += 1
        digits = "".join(_digits(w.text) or "" for w in words[i:j])
        if len(digits) <= MAX_DIGITS and int(digits) > 0 and _named(words, i, j):
            out.append((i, j))
        i = j
    return out


@dataclass(frozen=True)
class _Found:
    """A number named as the precinct's, located on the sheet."""

    line: Line
    page_digits: str
    """The digits as Tesseract read them on the page."""
    box: tuple[int, int, int, int]
    """x, y, w, h on the sheet of the union of its tokens."""
    page_confidence: float = 1.0
    """Tesseract's lowest word confidence of them, 0..1."""
    span: tuple[int, int] = (0, 0)
    """Its tokens: ``line.words[start:end]``."""

    @property
    def before(self) -> Word | None:
        """The token before the number (the sign, or the noun "участок")."""
        return self.line.words[self.span[0] - 1] if self.span[0] > 0 else None

    @property
    def after(self) -> Word | None:
        """The token after the number on its line, if any."""
        end = self.span[1]
        return self.line.words[end] if end < len(self.line.words) else None


def find_numbers(lines: list[Line], lh: float) -> list[_Found]:
    """Every number on the page named as the precinct's, in reading order."""
    out = []
    for ln in lines:
        for start, end in number_spans(ln, lh):
            ws = ln.words[start:end]
            x0 = min(w.box[0] for w in ws)
            y0 = min(w.box[1] for w in ws)
            x1 = max(w.box[0] + w.box[2] for w in ws)
            y1 = max(w.box[1] + w.box[3] for w in ws)
            digits = "".join(_digits(w.text) or "" for w in ws)
            conf = max(0.0, min(w.conf for w in ws) / 100.0)
            out.append(_Found(ln, digits, (x0, y0, x1 - x0, y1 - y0), conf, (start, end)))
    return out


def _widest_gap(mask: np.ndarray) -> int:
    """The widest run of empty columns between the ink of ``mask`` (0 when none)."""
    cols = np.flatnonzero(mask.any(axis=0))
    return int(np.diff(cols).max()) - 1 if len(cols) > 1 else 0


def _digit_like(mask: np.ndarray, tall: int, lh: float) -> bool:
    """True when a glyph of ``mask`` at least DIGIT_TALL as tall as the number may be a digit
    (the glyph network gives a digit at least 0.2 likely): the sign "№" is not one (its "o",
    lower than a digit, is not looked at), a digit run into it is. (The second glyph reader
    is no judge of this: it takes the "N" of "№" for a "4".)"""
    glyphs = [
        normalize_glyph(mask[y : y + h, x : x + w])
        for x, y, w, h in segment(mask, lh)
        if h >= DIGIT_TALL * tall
    ]
    return any(
        g.digit is not None or any(p >= 0.2 for _, p in g.alternatives)
        for g in load_model().classify(glyphs)
    )


def _clean_word(word: Word) -> bool:
    """True when a token after the number reads as a word of the precinct line from its first
    letter: a handwritten digit run into the word ("6сайлау" read "бсайлау"), or read as a
    letter or a sign ("о", "0%"), is no such word, and the number may be cut short."""
    f = fold(word.text)
    return f.startswith(WORDS_AFTER) and fold(word.text[:1]) == f[:1]


def _inside(x: float, y: float, box: tuple[int, int, int, int], slack: float) -> bool:
    """True when the point (x, y) is in ``box`` (x, y, w, h), ``slack`` above and below."""
    bx, by, bw, bh = box
    return bx <= x <= bx + bw and by - slack <= y <= by + bh + slack


def _box_of(comps: list[tuple[int, int, int, int, int]]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 around components (x, y, w, h, label)."""
    return (
        min(c[0] for c in comps),
        min(c[1] for c in comps),
        max(c[0] + c[2] for c in comps),
        max(c[1] + c[3] for c in comps),
    )


def number_ink(
    clean: np.ndarray, found: _Found, lh: float
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The number's ink: its box (x, y, w, h) on the sheet and its mask (the box's size),
    the glyph-sized ink under its tokens. None when it may be cut short or run on:
    - ink under its tokens runs on beyond them;
    - the token after it on its line is not a word of the precinct line read from its first
      letter (a digit Tesseract read as a letter, or ran into the word);
    - ink level with it stands closer than a word space on its right, or closer than its own
      digits stand apart;
    - ink level with it on its left, as close or in the sign's token, may be a digit (the
      sign "№" is not one: a digit Tesseract read into the sign);
    - ink level with it, within UNREAD_REACH text heights, is in no word Tesseract read
      (a digit it dropped)."""
    h_img, w_img = clean.shape
    x, y, w, h = found.box
    reach = int(UNREAD_REACH * lh) + 2
    lx0, ly0 = max(0, x - reach), max(0, int(y - lh))
    lx1, ly1 = min(w_img, x + w + reach), min(h_img, int(y + h + lh))
    sub = clean[ly0:ly1, lx0:lx1]
    if sub.size == 0:
        return None
    after = found.after
    if after is not None and not _clean_word(after):
        return None
    n, labels, st, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
    slack = 0.2 * lh
    mine: list[tuple[int, int, int, int, int]] = []
    others: list[tuple[int, int, int, int, int]] = []
    for i in range(1, n):
        cx0, cy0, cw, ch, area = (int(v) for v in st[i])
        cx0, cy0 = cx0 + lx0, cy0 + ly0
        if max(cw, ch) < 0.15 * lh or area < 4:
            continue  # a speck
        mid_x, mid_y = cx0 + cw / 2, cy0 + ch / 2
        inside = x - slack <= mid_x <= x + w + slack and y - slack <= mid_y <= y + h + slack
        (mine if inside else others).append((cx0, cy0, cw, ch, i))
    if not mine:
        return None
    bx0, by0, bx1, by1 = _box_of(mine)
    tall = by1 - by0
    if bx0 < x - 2 * slack or bx1 > x + w + 2 * slack:
        return None
    region = labels[by0 - ly0 : by1 - ly0, bx0 - lx0 : bx1 - lx0]
    mask = np.isin(region, [c[4] for c in mine]).astype(np.uint8) * 255
    near = max(NEAR_INK * lh, 1.5 * _widest_gap(mask))
    words = [wd.box for wd in found.line.words]
    before = found.before
    sign = before.box if before is not None and _sign(before.text) else None
    left: list[tuple[int, int, int, int, int]] = []
    for c in others:
        cx0, cy0, cw, ch, _ = c
        if not (cy0 < by1 and by0 < cy0 + ch) or ch < 0.35 * tall:
            continue  # not level with the number, or too small to be a digit
        gap = max(bx0 - (cx0 + cw), cx0 - bx1)
        mid_x, mid_y = cx0 + cw / 2, cy0 + ch / 2
        if not any(_inside(mid_x, mid_y, b, slack) for b in words):
            return None  # ink Tesseract read as nothing
        on_left = cx0 + cw <= bx0
        if not on_left and gap < near:
            return None
        if on_left and (gap < near or (sign is not None and _inside(mid_x, mid_y, sign, slack))):
            left.append(c)
    if left:
        sx0, sy0, sx1, sy1 = _box_of(left)
        around = labels[sy0 - ly0 : sy1 - ly0, sx0 - lx0 : sx1 - lx0]
        ink = np.isin(around, [c[4] for c in left]).astype(np.uint8) * 255
        if _digit_like(ink, tall, lh):
            return None
    return (bx0, by0, bx1 - bx0, by1 - by0), mask


#: Tesseract's page reading of a number may differ from the readers' value (it misreads
#: handwriting) only when the three networks read the same digits, each at least this sure...
NETWORKS_SURE = 0.95
#: ... and Tesseract read the number alone (the crop) no surer than this otherwise.
TESS_OTHERWISE = 0.9


def _page_agrees(
    found: _Found,
    value: int,
    model: fig.ModelReading,
    model_b: fig.ModelReading,
    seq: SequenceReading,
    tess: tuple[str | None, float],
) -> bool:
    """Whether the page's reading of the number allows ``value``: the same number; or as
    many digits (the number's extent agrees), the three networks reading the value, each
    sure, and Tesseract not sure of other digits on the number alone."""
    if int(found.page_digits) == value:
        return True
    digits = str(value)
    if len(found.page_digits) != len(digits):
        return False
    networks = (
        (model.digits, model.confidence),
        (model_b.digits, model_b.confidence),
        (seq.digits, seq.confidence),
    )
    if any(d != digits or c < NETWORKS_SURE for d, c in networks):
        return False
    return tess[0] in (None, digits) or tess[1] < TESS_OTHERWISE


def _read_one(
    prep: Prepared, clean: np.ndarray, found: _Found, lh: float, factor: float
) -> PrecinctReading:
    """Read one number named as the precinct's with every reader; decide."""
    ink = number_ink(clean, found, lh)
    page = ("page", found.page_digits, found.page_confidence)
    if ink is None:
        return PrecinctReading(
            None,
            PrecinctReason.NOT_ISOLATED,
            0.0,
            (int(found.page_digits),),
            found.line.text,
            readers=(page,),
        )
    box, mask = ink
    model = fig.read_with_model(mask, load_model(), lh)
    model_b = fig.second_opinion(model, load_model_b())
    seq = load_sequence_model().read([mask])[0]
    keep = np.zeros(prep.gray.shape, bool)
    bx, by, bw, bh = box
    keep[by : by + bh, bx : bx + bw] = mask > 0
    tess = fig.read_with_tesseract(ink_view(prep.gray, keep), [box], lh)[0]
    readers = (
        ("glyphs_a", model.digits, model.confidence),
        ("glyphs_b", model_b.digits, model_b.confidence),
        ("sequence", seq.digits, seq.confidence),
        ("tesseract", tess[0], tess[1]),
        page,
    )
    seen: list[int] = []
    for _, digits, conf in sorted(readers, key=lambda r: -r[2]):
        if digits is not None and conf >= 0.5 and int(digits) not in seen:
            seen.append(int(digits))
    where = fig.to_image_box(box, prep.to_image, factor)
    crop = fig.png_crop(prep.gray, box, int(0.4 * lh))
    evidence = decide_digits(model, model_b, tess, seq)
    if evidence is not None and _page_agrees(found, evidence[2], model, model_b, seq, tess):
        value = evidence[2]
        cands = (value, *[c for c in seen if c != value])
        return PrecinctReading(
            value, PrecinctReason.READ, evidence[1], cands, found.line.text, where, crop, readers
        )
    reason = PrecinctReason.DISAGREE if len(seen) > 1 else PrecinctReason.LOW_CONFIDENCE
    return PrecinctReading(None, reason, 0.0, tuple(seen), found.line.text, where, crop, readers)


def read_precinct(
    prep: Prepared, lines: list[Line], clean: np.ndarray, lh: float, factor: float
) -> PrecinctReading:
    """The precinct number printed on the sheet ``prep``: ``lines`` are the text lines of its
    header (above the form's first label) as Tesseract read them, ``clean`` its ink with rules
    removed, ``lh`` its text height; ``factor`` maps the decoded image to the original one.

    Read only when every number the page names as the precinct's that was read gives the
    same number; two different numbers are a conflict, and not read."""
    found = find_numbers(lines, lh)
    if not found:
        return PrecinctReading(None, PrecinctReason.NO_LINE, 0.0)
    readings = [_read_one(prep, clean, f, lh, factor) for f in found]
    read = [r for r in readings if r.read]
    if len({r.value for r in read}) > 1:
        values = tuple(dict.fromkeys(r.value for r in read if r.value is not None))
        return PrecinctReading(
            None, PrecinctReason.CONFLICT, 0.0, values, " | ".join(r.line for r in read)
        )
    return read[0] if read else readings[0]


__all__ = ["find_numbers", "number_ink", "read_precinct"]
