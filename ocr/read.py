"""``read_protocol``: one protocol image in, every figure of the form out, each with a status.

The sheet is found and flattened (:mod:`ocr.prepare`), the form's labels found
(:mod:`ocr.layout`), each label's figure located and read by every reader (:mod:`ocr.figures`,
:mod:`ocr.digits`, :mod:`ocr.sequence`, Tesseract, the words), and the decision taken by
:mod:`ocr.decide`: an accepted wrong figure is the worst outcome. Control relations are
checked and reported; they never change or accept a figure.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ocr import figures as fig
from ocr.decide import (
    TESS_MIN,
    accept_by_relations,
    accepted_values,
    decide,
    doubt_by_relations,
    doubt_misread_digits,
    doubt_unsupported,
    rank_by_relations,
)
from ocr.digits import load_model, load_model_b
from ocr.engine import Word, detect_orientation, engine_versions, run_tesseract, run_tesseract_each
from ocr.errors import MissingDependency
from ocr.forms import Form, list_forms, load_form
from ocr.layout import (
    LabelHit,
    Line,
    WordsRun,
    crowded_labels,
    find_labels,
    find_latin_labels,
    find_words_runs,
    fold,
    group_lines,
    place_by_order,
    title_words,
    words_found,
)
from ocr.ppocr import load_recogniser
from ocr.precinct import read_precinct
from ocr.prepare import (
    ImageProblem,
    Prepared,
    decode,
    ink_view,
    level,
    prepare,
    stray_ink,
    turn,
)
from ocr.result import FieldReading, ProtocolReading, Reason, RelationCheck, Status
from ocr.sequence import SequenceReading, load_sequence_model

_PROBLEM_REASON = {
    ImageProblem.NOT_AN_IMAGE: Reason.NOT_AN_IMAGE,
    ImageProblem.TOO_SMALL: Reason.TOO_SMALL,
    ImageProblem.TOO_LARGE: Reason.TOO_LARGE,
    ImageProblem.BLANK: Reason.BLANK,
}
#: Scale of the sheet given to Tesseract for finding labels (speed; labels stay legible).
TESS_SCALE = 0.8
#: A line read in Latin letters taller than this many times the page's median line is
#: read as a block of text, not as one line.
LATIN_TALL = 1.5
#: Slope of the text lines (degrees) from which the page is levelled again and re-read.
RELEVEL = 1.0
#: Share of unread ink next to a number in words that makes it a possible piece.
STRAY_INK = 0.03
#: A page with fewer than STACKED_SHARE of its labels given a figure level with them, of
#: at least STACKED_LABELS_MIN labels found, is read again for figures standing above their
#: labels; taken so when at least STACKED_SHARE of the labels have one figure so, more than
#: were found level. The first label looks up to STACKED_FIRST text heights above itself,
#: or, when nothing is found there, as high above it as the other labels' figures stand
#: above theirs and STACKED_FIRST_MARGIN text heights more, then STACKED_FAR text heights.
STACKED_LABELS_MIN = 5
STACKED_SHARE = 0.6
STACKED_FIRST = 4.0
STACKED_FIRST_MARGIN = 0.5
STACKED_FAR = 6.0
#: A figure of a stacked page stands at most STACKED_RISE label pitches further above its
#: label than the page's figures do in the median; one further up is another row's.
STACKED_RISE = 0.5


def _rescale(w: Word, k: float) -> Word:
    x, y, ww, hh = w.box
    return Word(w.text, w.conf, (int(x * k), int(y * k), int(ww * k), int(hh * k)), w.line)


def _unreadable(form: Form, sha: str, reason: Reason, t0: float) -> ProtocolReading:
    fields = tuple(
        FieldReading(k, None, Status.UNREADABLE, 0.0, "", None, None, (), (0, 0, 0, 0), reason)
        for k in form.keys
    )
    rels = tuple(RelationCheck(r.text, None) for r in form.relations)
    return ProtocolReading(
        form.id, sha, fields, rels, time.perf_counter() - t0, reason, _versions()
    )


def _versions() -> dict[str, object]:
    try:
        return engine_versions()
    except (OSError, subprocess.SubprocessError, MissingDependency):  # informative only
        return {}


def _form_problem(form: Form, lines: list[Line], hits: dict[str, list[LabelHit]]) -> Reason | None:
    """NOT_A_PROTOCOL when too few of the form's labels are on the page; FORM_MISMATCH only
    on positive evidence of another known form: its own contestants (parties or
    candidates) found where ours are mostly missing, or its title rather than ours.

    Contestants missing alone are not a mismatch: a shadow, a fold or a photo of half
    the sheet loses rows of the right form too; those rows are reported unfound."""
    if len(lines) < 3:
        return Reason.NOT_A_PROTOCOL
    found = len(hits) / max(1, len(form.keys))
    if found < 0.3:
        return Reason.NOT_A_PROTOCOL
    contestants = [k for keys in form.groups.values() for k in keys]
    ours = sum(k in hits for k in contestants)
    for other_id in list_forms():
        if other_id == form.id:
            continue
        other = load_form(other_id)
        if contestants and ours < 0.5 * len(contestants):
            own_labels = {(fold(lab.ru), fold(lab.kk)) for lab in form.labels}
            distinct = {
                lab.key for lab in other.labels if (fold(lab.ru), fold(lab.kk)) not in own_labels
            }
            theirs = [k for k in find_labels(other, lines) if k in distinct]
            if len(theirs) >= 2 and len(theirs) > ours:
                return Reason.FORM_MISMATCH
        for own_title, other_title in (
            (form.title_ru, other.title_ru),
            (form.title_kk, other.title_kk),
        ):
            own_words, other_words = title_words(own_title), title_words(other_title)
            mine = words_found(own_words - other_words, lines)
            theirs_t = words_found(other_words - own_words, lines)
            if theirs_t >= 0.5 and theirs_t > mine + 0.3:
                return Reason.FORM_MISMATCH
    return None


def _bands(hits: dict[str, list[LabelHit]], lh: float) -> dict[str, tuple[int, int, int, int]]:
    """Key -> (x_label_start, y_top, y_bottom, y_next): row band of each label."""
    tops = sorted((min(h.box[1] for h in hs), k) for k, hs in hits.items())
    out = {}
    for i, (top, key) in enumerate(tops):
        bottom = max(h.box[3] for h in hits[key])
        nxt = next((t for t, _ in tops[i + 1 :] if t > top + 0.6 * lh), top + 6 * lh)
        x0 = min(h.box[0] for h in hits[key])
        out[key] = (int(x0), int(top - 0.5 * lh), int(bottom), int(nxt))
    return out


#: Labels that start this many text heights apart stand in different columns of the table
#: (a two-column table's rows hold two labels, each with its figure to its right).
COLUMN_APART = 5.0


#: A horizontal rule at least this share of the sheet's width long is a table's row rule.
TABLE_RULE = 0.5


def _table_rules(binary: np.ndarray, lh: float) -> list[int]:
    """Heights of the sheet's table rules: unbroken horizontal lines across at least
    TABLE_RULE of its width (a dotted leader, a digit box's side or an underline is none)."""
    long_ink = (fig.horizontal_rules(binary, lh) > 0).sum(axis=1)
    ys = np.nonzero(long_ink >= TABLE_RULE * binary.shape[1])[0]
    rules: list[int] = []
    for y in ys.tolist():
        if not rules or y > rules[-1] + 2:
            rules.append(y)
    return rules


def _ruled_cell(
    rules: list[int], top: int, bottom: int, nxt: int, lh: float
) -> tuple[int, int] | None:
    """(y_top, y_bottom) of the table cell a label stands in, when the row is ruled: a table
    rule just above the label and one below it, before the next label. A figure anywhere in
    that cell is the row's, however low its cell centres it."""
    above = [y for y in rules if top - 2 * lh <= y <= top + 0.5 * lh]
    below = [y for y in rules if bottom <= y <= nxt]
    if not above or not below:
        return None
    return max(above), min(below)


def _own_column(starts: Sequence[tuple[float, str]], x: float, lh: float) -> set[str]:
    """Of labels starting at ``starts`` (x, key), those in the column ink at ``x`` stands
    in: starting left of it (a little right of it, for words under their label, indented),
    and in the rightmost such column."""
    left = [(x0, k) for x0, k in starts if x0 <= x + lh]
    if not left:
        return set()
    nearest = max(x0 for x0, _ in left)
    return {k for x0, k in left if x0 >= nearest - COLUMN_APART * lh}


def _assign_runs(
    runs: list[WordsRun],
    bands: dict[str, tuple[int, int, int, int]],
    label_lines: set[int],
    lh: float,
) -> dict[str, WordsRun]:
    """Each label's number in words: the run in its row band and its column."""
    out: dict[str, WordsRun] = {}
    for run in runs:
        if label_lines.intersection(run.lines):
            continue
        y = run.box[1]
        level = [(x0, k) for k, (x0, top, _, nxt) in bands.items() if top <= y < nxt]
        column = _own_column(level, run.box[0], lh)
        owners = sorted((bands[k][1], k) for k in column)
        if owners and owners[-1][1] not in out:
            out[owners[-1][1]] = run
    return out


#: Digits in printed boxes (one a box, the boxes' sides removed): single glyphs level
#: with each other, their centres at most BOX_PITCH glyph heights apart, and each such
#: step within BOX_EVEN of the others (the boxes are printed evenly).
BOX_PITCH = 2.6
BOX_EVEN = 1.3
#: With this many figures found in digit boxes, the page's figures are taken to stand in
#: boxes, right-aligned.
BOXED_PAGE = 3
#: On such a page, glyph-sized ink within this many of the boxes' pitch left or right of a
#: figure makes it not isolated: a digit of it may be lost there.
BOX_REACH = 1.25
#: A "line" of text taller than this many text lines is figures down a column that
#: Tesseract joined into one (digits in boxes read as letters), not text: a line of text
#: with a figure written beside it, taller and a little lower, can be two.
COLUMN_NOT_LINE = 4
#: With this many figures ending level (within half a text line), the page's figures are
#: taken to be right-aligned.
ALIGNED_MIN = 5
#: ... and a figure inside their column ending more than this many text lines left of them
#: may have lost its last digits (:func:`_short_of_column`).
SHORT_OF_COLUMN = 1.0


def _boxed_digits(
    clusters: list[tuple[tuple[int, int, int, int], np.ndarray]], n: int, lh: float
) -> tuple[tuple[int, int, int, int], np.ndarray, float] | None:
    """The figure written one digit a box, from cluster ``n`` on: its box, its ink mask
    (the clusters joined) and the boxes' pitch; None when ``n`` is not the first of two or
    more such digits."""

    def single(box: tuple[int, int, int, int]) -> bool:
        return box[2] <= 1.2 * box[3]

    run = [clusters[n]]
    steps: list[float] = []
    for c in clusters[n + 1 :]:
        (px, py, pw, ph), _ = run[-1]
        x, y, w, h = c[0]
        step = (x + w / 2) - (px + pw / 2)
        level = abs((y + h / 2) - (py + ph / 2)) <= 0.3 * max(h, ph)
        apart = x > px + pw and step <= BOX_PITCH * max(h, ph)
        if not (single(c[0]) and level and 0.6 * ph <= h <= 1.6 * ph and apart):
            break
        if steps and max(*steps, step) > BOX_EVEN * min(*steps, step):
            break
        steps.append(step)
        run.append(c)
    if len(run) < 2 or not single(run[0][0]):
        return None
    box, mask = _union(run)
    return box, mask, sorted(steps)[len(steps) // 2]


def _union(
    run: list[tuple[tuple[int, int, int, int], np.ndarray]],
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Clusters (box, own ink mask) as one: the box around them and their masks joined."""
    x0 = min(b[0] for b, _ in run)
    y0 = min(b[1] for b, _ in run)
    x1 = max(b[0] + b[2] for b, _ in run)
    y1 = max(b[1] + b[3] for b, _ in run)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for (x, y, w, h), m in run:
        mask[y - y0 : y - y0 + h, x - x0 : x - x0 + w] |= m
    return (x0, y0, x1 - x0, y1 - y0), mask


def _level_end(boxes: list[tuple[int, int, int, int]], lh: float) -> float | None:
    """Where the figures ``boxes`` (x, y, w, h) end, when ALIGNED_MIN of them end level
    (within half a text line of their median end); else None."""
    ends = sorted(x + w for x, _, w, _ in boxes)
    if len(ends) < ALIGNED_MIN:
        return None
    end = ends[len(ends) // 2]
    return end if sum(abs(e - end) <= 0.5 * lh for e in ends) >= ALIGNED_MIN else None


def _short_of_column(boxes: dict[str, tuple[int, int, int, int]], lh: float) -> set[str]:
    """Keys of the figures that end short of the page's right-aligned column of figures.

    The column is right-aligned when ALIGNED_MIN figures end level (:func:`_level_end`)
    though they start more than a text line apart
    (figures of different lengths: a column of figures of one length, or left-aligned,
    shows nothing). A figure that starts inside that column and ends more than
    SHORT_OF_COLUMN text lines short of it lost its last digits to the reading (a real
    hand's "13" in digit boxes, its "3" faint, broken into specks: read 1), or was written
    so; either way it is not read whole beyond doubt."""
    end = _level_end(list(boxes.values()), lh)
    if end is None:
        return set()
    level = [x for x, _, w, _ in boxes.values() if abs(x + w - end) <= 0.5 * lh]
    if max(level) - min(level) <= lh:
        return set()
    return {
        k
        for k, (x, _, w, _) in boxes.items()
        if min(level) - 0.5 * lh <= x and x + w < end - SHORT_OF_COLUMN * lh
    }


def _more_digits_right(
    box: tuple[int, int, int, int], rest: list[tuple[tuple[int, int, int, int], np.ndarray]]
) -> bool:
    """True when a glyph-sized cluster stands level with the figure taken, close right of
    it (within a digit box's pitch, BOX_PITCH of its height): the figure may go on there
    (a handwritten "1266" one digit a box, its boxes unevenly filled, read "1")."""
    x, y, w, h = box
    mid = y + h / 2
    for (cx, cy, _cw, ch), _ in rest:
        if cx < x + w:
            continue  # joined into the figure, or overlapping it
        if cx - (x + w) > BOX_PITCH * h:
            break  # left to right: the rest are further
        if ch >= 0.6 * h and abs(cy + ch / 2 - mid) <= 0.5 * h:
            return True
    return False


def _joined_right(
    first: tuple[tuple[int, int, int, int], np.ndarray],
    rest: list[tuple[tuple[int, int, int, int], np.ndarray]],
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """``first`` joined with the glyph-sized clusters level with it that follow it, each
    within a digit box's pitch (BOX_PITCH of its height) of the one before: its box and ink
    mask."""
    run = [first]
    (x, y, w, h), _ = first
    mid, right = y + h / 2, x + w
    for c in rest:
        cx, cy, cw, ch = c[0]
        if cx < right:
            continue  # inside what is taken
        if cx - right > BOX_PITCH * h:
            break
        if ch < 0.6 * h or abs(cy + ch / 2 - mid) > 0.5 * h:
            break
        run.append(c)
        right = cx + cw
    return _union(run)


def _reads_as_digits(mask: np.ndarray) -> bool:
    """Whether the whole-figure network, which never cuts a figure into glyphs, reads
    ``mask`` as digits (printed digits touching each other, "644" in a serif face, are no
    glyphs to the glyph network, and still a figure). Only says where a figure stands: its
    readers read it as any other."""
    return load_sequence_model().read([mask])[0].digits is not None


def _words_under(
    found: list[tuple[tuple[int, int, int, int], np.ndarray, fig.ModelReading]],
) -> list[tuple[tuple[int, int, int, int], np.ndarray, fig.ModelReading]]:
    """Of the clusters between two labels of a stacked page, the figure alone when its
    number in words lies under it unread as a line of text: one cluster the glyph network
    reads as digits, every other one below it and no taller, which only the whole-figure
    network (that reads any ink as digits) takes for a figure."""
    glyphed = [f for f in found if f[2].digits is not None]
    if len(glyphed) != 1 or len(found) == 1:
        return found
    (_, y, _, h), _, _ = glyphed[0]
    if all(f is glyphed[0] or (f[0][1] >= y + h and f[0][3] <= h) for f in found):
        return glyphed
    return found


def _words_between(runs: list[WordsRun], box: tuple[int, int, int, int], bottom: int) -> bool:
    """Whether a number in words was read under the figure in ``box`` (x, y, w, h) and above
    ``bottom``, level with the figure's columns."""
    x, y, w, h = box
    return any(
        r.value is not None and r.box[1] >= y + 0.5 * h and r.box[3] <= bottom
        and r.box[0] < x + w and r.box[2] > x
        for r in runs
    )  # fmt: skip


def _assign_runs_above(
    runs: list[WordsRun], tops: list[tuple[int, str]], label_lines: set[int]
) -> dict[str, WordsRun]:
    """Each label's number in words on a page whose figures stand above their labels: the
    run between it and the label above it (one only)."""
    out: dict[str, WordsRun] = {}
    taken: dict[str, int] = {}
    for run in runs:
        if label_lines.intersection(run.lines):
            continue
        below = next((k for top, k in tops if top >= run.box[3] - 2), None)
        if below is not None:
            taken[below] = taken.get(below, 0) + 1
            out[below] = run
    return {k: r for k, r in out.items() if taken[k] == 1}


def _nearest_label(
    box: tuple[int, int, int, int],
    label_mids: list[tuple[float, int, str]],
    lh: float,
    bands: dict[str, tuple[int, int, int, int]],
) -> str | None:
    """Key of the found label line, starting left of the figure, whose middle is
    level-nearest to it; of labels in whose row band the figure stands, in several
    columns, one of the column it stands in (a two-column table's figure belongs to the
    label just left of it, not to the one at the row's start)."""
    mid = box[1] + box[3] / 2
    left = [(abs(m - mid), x0, k) for m, x0, k in label_mids if x0 < box[0]]
    if not left:
        return None
    level = [(x0, k) for _, x0, k in left if bands[k][1] <= mid < bands[k][3]]
    column = _own_column(level, box[0], lh) if level else set()
    if column:
        left = [t for t in left if t[2] in column]
    return min(left)[2]


def _text_far_left(
    passed: tuple[int, int, int, int], chosen: tuple[int, int, int, int], lh: float
) -> bool:
    """True when ink passed over on the way to a figure is a line of text, not a figure
    that did not read: a run about as low as a line of text (its words' ascenders and
    descenders together stand up to 1.5 text heights, measured on single words) and far
    wider than a figure (the tail of a label Tesseract garbled), ending well left of the
    figure taken. A figure that did not read is figure-shaped, or runs on up to what was
    taken instead."""
    x, _, w, h = passed
    return h <= 1.5 * lh and w >= 5 * h and chosen[0] - (x + w) >= 3 * lh


def _closer_to_orphan(
    box: tuple[int, int, int, int],
    label_mid: float,
    orphans: list[Line],
    label_bottom: float = -1e9,
    lh: float = 0.0,
) -> bool:
    """True when the figure found sits level with a line of text that no found label
    explains (probably the label of a row that was not recognised) rather than with
    its own label: it is then not taken, to avoid reading another row's figure. A line
    that directly continues the label (the other language's label, unread) does not count."""
    mid = box[1] + box[3] / 2
    for ln in orphans:
        if ln.box[0] >= box[0] or ln.box[1] < label_bottom + 0.6 * lh:
            continue
        o_mid = (ln.box[1] + ln.box[3]) / 2
        if abs(mid - o_mid) < abs(mid - label_mid) and ln.box[1] <= mid <= ln.box[3]:
            return True
    return False


def _maybe_the_next_rows(
    located: dict[str, tuple[tuple[int, int, int, int], fig.ModelReading]],
    hits: dict[str, list[LabelHit]],
    shared_rows: set[str],
    lh: float,
) -> set[str]:
    """Keys whose figure stands wholly below their label's lines (a row of one label) where
    the next row may own it: a text line's height or more below them (beside a label's
    lines is where a level layout puts its figure), no label found below, or the label
    below with no figure found. Found on a hard photo of figures standing above their
    labels, taken for a level layout: the "2" written above "14. Бәріне қарсы", whose figure
    was not found, was accepted as 13. «Ақ жол»'s. (A figure written a little low in its
    cell, the next row's figure found, stays its row's.)"""
    tops = sorted((min(h.box[1] for h in hs), k) for k, hs in hits.items())
    out = set()
    for key, (box, _) in located.items():
        top = min(h.box[1] for h in hits[key])
        gap = box[1] - max(h.box[3] for h in hits[key])
        if key in shared_rows or gap <= 0:
            continue  # reaching up to its label's lines
        nxt = next(((t, k) for t, k in tops if t > top + 0.6 * lh), None)
        if gap > lh or nxt is None or nxt[1] not in located:
            out.add(key)
    return out


def _read_latin(binary: np.ndarray, lines: Sequence[Line], line_height: float) -> list[str]:
    """Each line's text read with Tesseract's English model (Latin letters) from the ink
    ``binary`` (rules removed: a row's rules around it made Tesseract read nothing), each
    line alone: a line one text line high as one line (``--psm 7``), a taller one (a label
    on two lines, a figure beside it: over LATIN_TALL times the page's median
    ``line_height``) as a block (``--psm 6``), each kind by one Tesseract.
    (Stacked into one sheet and read as a block, a line's reading depended on the others
    read with it: five lines fewer lost another line's «Respublica».)"""
    crops = []
    for ln in lines:
        x0, y0, x1, y1 = ln.box
        pad = max(2, (y1 - y0) // 3)
        crop = binary[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
        ink = np.where(crop > 0, 0, 255).astype(np.uint8)
        crops.append(np.pad(ink, 10, constant_values=255))
    tall = [ln.box[3] - ln.box[1] > LATIN_TALL * line_height for ln in lines]
    out = [""] * len(lines)
    for psm, kind in ((7, False), (6, True)):
        which = [n for n, t in enumerate(tall) if t is kind]
        read = run_tesseract_each([crops[n] for n in which], lang="eng", psm=psm)
        for n, res in zip(which, read, strict=True):
            out[n] = " ".join(w.text for w in sorted(res.words, key=lambda w: w.box[0]))
    return out


def read_prepared(
    prep: Prepared, factor: float, form: Form, sha: str, t0: float
) -> ProtocolReading:
    """Read the figures of ``form`` from an already prepared sheet."""

    def labels_of(
        page: Prepared, grey: str | None = None
    ) -> tuple[np.ndarray, list[Line], dict[str, list[LabelHit]]] | None:
        # the ink mask, rules and dots removed, scaled down (fast), read as Kazakh (its
        # alphabet holds the Russian one); or, for blurred small print, the grey sheet
        # under that mask at full size, read in the language ``grey``
        scale = 1.0 if grey else TESS_SCALE
        text = fig.text_image(page.binary, scale)
        if grey:
            text = ink_view(page.gray, text < 128)
        lang = grey or "kaz"
        tess = run_tesseract(text, lang=lang, psm=3, config=("tessedit_do_invert=0",))
        if tess.error is not None:
            return None
        h, w = page.gray.shape
        mx, my = 0.01 * w, 0.01 * h
        words = [_rescale(wd, 1 / scale) for wd in tess.words]
        # a stroke or two at the sheet's very edge is the edge, not text ("І 3 Бюллетень"
        # made the row number "3" look like the figure after a one-letter label)
        words = [
            wd
            for wd in words
            if len(wd.text) > 2
            or (
                mx <= wd.box[0] <= wd.box[0] + wd.box[2] <= w - mx
                and my <= wd.box[1] <= wd.box[1] + wd.box[3] <= h - my
            )
        ]
        page_lines = group_lines(tuple(words))
        return text, page_lines, find_labels(form, page_lines)

    first = labels_of(prep)
    if first is None:
        return _unreadable(form, sha, Reason.OCR_FAILED, t0)
    text, lines, hits = first
    problem = _form_problem(form, lines, hits)
    read_rus: Prepared | None = None  # the sheet read grey as Russian before any turn
    read_grey = False  # the lines kept are of a grey read
    if problem is Reason.NOT_A_PROTOCOL:
        # no labels where they should be: the page may be upside down, or sideways (an
        # upright page never pays for this). A sheet found was made portrait already, so
        # only a half turn is left to try; otherwise Tesseract's orientation detection
        # proposes the turn.
        turns = [180]
        if not prep.sheet_found:
            osd = detect_orientation(text)
            if osd is not None and osd.rotate:
                turns = [osd.rotate] + [d for d in (180,) if d != osd.rotate]
            elif osd is not None and osd.confidence >= 2:
                turns = []
        else:
            # a sheet found, its labels unread: a photo in shadow or blurred, which the
            # grey sheet read as Russian reads (see below), is far more common than a
            # sheet upside down; that read comes first, and a protocol found by it is
            # not turned (a dark page read four times took 4-6 CPU-s)
            again = labels_of(prep, grey="rus")
            read_rus = prep
            if again is not None and len(again[2]) > len(hits):
                text, lines, hits = again
                read_grey = True
                problem = _form_problem(form, lines, hits)
                if problem is not Reason.NOT_A_PROTOCOL:
                    turns = []
        as_prepared = prep
        for degrees in turns:
            turned = turn(as_prepared, degrees)
            again = labels_of(turned)
            if again is None or len(again[2]) <= len(hits):
                continue
            prep, (text, lines, hits) = turned, again
            read_grey = False
            problem = _form_problem(form, lines, hits)
            if problem is not Reason.NOT_A_PROTOCOL:
                break

    # text lines still askew (a sheet not found on a busy table keeps the photo's turn,
    # and the ink's profile missed it): level them by their own slope and read again
    # (the lines of a page read only grey are not levelled, as they never were)
    askew = problem is not Reason.NOT_A_PROTOCOL and not read_grey
    slope = fig.text_slope(prep.binary, lines) if askew else None
    angle = math.degrees(math.atan(slope)) if slope is not None else 0.0
    if abs(angle) >= RELEVEL:
        levelled = level(prep, angle)
        again = labels_of(levelled)
        if again is not None and len(again[2]) >= len(hits):
            prep, (text, lines, hits) = levelled, again
            problem = _form_problem(form, lines, hits)

    # many labels missing: blurred small print, which a fixed threshold breaks up. Read
    # the grey sheet as Russian (small Russian print reads best so); if many are still
    # missing, as Kazakh (bilingual rows, Kazakh above in larger print, read best so)
    def many_missing() -> bool:
        return problem is Reason.NOT_A_PROTOCOL or (
            problem is None and len(hits) < 0.8 * len(form.keys)
        )

    for grey in ("rus", "kaz"):
        if not many_missing():
            break
        if grey == "rus" and prep is read_rus:
            continue
        again = labels_of(prep, grey=grey)
        if again is not None and len(again[2]) > len(hits):
            text, lines, hits = again
            problem = _form_problem(form, lines, hits)
    if problem is not None:
        return _unreadable(form, sha, problem, t0)
    lh = fig.word_height(prep.binary, lines)
    clean = fig.clean_binary(prep.binary, lh)  # the ink without rules
    line_height = float(np.median([ln.box[3] - ln.box[1] for ln in lines]))
    find_latin_labels(form, lines, hits, lambda cands: _read_latin(clean, cands, line_height))
    placed = place_by_order(form, lines, hits)
    runs = find_words_runs(lines)
    # a number in words with unread writing just above or below it, in its column, may be
    # a piece of a longer one whose other line Tesseract dropped ("пятнадцать" of "двести
    # пятнадцать" agreed with digits read short): it gives no value
    # the precinct line is in the header, above the form's first label (a figure at the end
    # of a label naming "участковая избирательная комиссия" is never taken for it)
    first_label = min((h.box[1] for hs in hits.values() for h in hs), default=0)
    header = [ln for ln in lines if ln.box[3] <= first_label]
    precinct = read_precinct(prep, header, clean, lh, factor)
    read_boxes = [(ln.box[0] - 4, ln.box[1] - 4, ln.box[2] + 4, ln.box[3] + 4) for ln in lines]

    def unread_next_to(run: WordsRun) -> bool:
        rh = (run.box[3] - run.box[1]) / max(1, len(run.lines))
        x0, y0, x1, y1 = run.box
        above = (x0, int(y0 - 1.3 * rh), x1, y0 - 2)
        below = (x0, y1 + 2, x1, int(y1 + 1.3 * rh))
        return max(stray_ink(clean, b, read_boxes) for b in (above, below)) > STRAY_INK

    runs = [
        replace(r, value=None) if r.value is not None and r.lines and unread_next_to(r) else r
        for r in runs
    ]
    label_lines = {i for hs in hits.values() for h in hs for i in h.lines}
    bands = _bands(hits, lh)
    run_of = _assign_runs(runs, bands, label_lines, lh)
    # mask what is already explained: the labels' own words and the words runs
    masked = clean.copy()
    label_words = {
        k: [w for h in hs for w in fig.label_words([lines[i] for i in h.lines], lh)]
        for k, hs in hits.items()
    }
    line_end = {  # where each label line's label text ends
        i: max((w.box[0] + w.box[2] for w in fig.label_words([lines[i]], lh)), default=0)
        for i in label_lines
    }
    for i in label_lines:  # the labels' own words (not figures Tesseract put on their line)
        for w in lines[i].words:
            letters = sum(c.isalpha() for c in w.text)
            near = w.box[0] <= line_end[i] + 2 * lh  # far right of the label: maybe a figure
            if letters >= 2 and letters * 2 >= len(w.text) and near:
                x, y, ww, hh = w.box
                masked[max(0, y - 2) : y + hh + 2, max(0, x - 2) : x + ww + 2] = 0
    for run in runs:
        x0, y0, x1, y1 = run.box
        masked[max(0, y0 - 3) : y1 + 3, max(0, x0 - 3) : x1 + 3] = 0
    explained = label_lines | {i for r in runs for i in r.lines}

    def line_sized(w: Word) -> bool:
        # a "word" taller than two lines is a column of figures Tesseract joined into
        # one and read as letters ("хәомоо" for 0, 0, 2, 5, 2): not text
        return w.box[3] <= 2 * lh

    orphans = [
        ln
        for ln in lines
        if ln.index not in explained
        and ln.box[3] - ln.box[1] <= COLUMN_NOT_LINE * lh  # (taller: figures down a column)
        and sum(c.isalpha() for w in ln.words if line_sized(w) for c in w.text) >= 4
    ]
    for ln in orphans:  # unexplained text (words read as garbage, headings): not a figure
        for w in ln.words:
            if line_sized(w) and sum(c.isalpha() for c in w.text) >= 2:
                x, y, ww, hh = w.box
                masked[max(0, y - 2) : y + hh + 2, max(0, x - 2) : x + ww + 2] = 0
    label_mids = [((h.box[1] + h.box[3]) / 2, h.box[0], k) for k, hs in hits.items() for h in hs]
    model = load_model()
    model_b = load_model_b()
    located: dict[str, tuple[tuple[int, int, int, int], fig.ModelReading]] = {}
    masks: dict[str, np.ndarray] = {}
    passed_over: set[str] = set()
    boxed: dict[str, float] = {}  # figures written one digit a box: the boxes' pitch
    joined_right: set[str] = set()  # figures read with the ink close right of them
    shared_rows: set[str] = set()  # labels sharing their row with another column's
    rules = _table_rules(prep.binary, lh)
    ruled_rows: set[str] = set()  # labels whose figure may stand low in a ruled cell
    for key, hs in hits.items():
        x_end = max(
            (w.box[0] + w.box[2] for w in label_words[key]), default=max(h.box[2] for h in hs)
        )
        _, top, bottom, nxt = bands[key]
        # the figure's centre lies above the next label; its top is level with the label
        # (a tall table row centres it lower; the next row's figure starts lower still)
        y_bot = int(min(nxt - 0.15 * lh, bottom + 2.5 * lh))
        label_mid = (top + 0.5 * lh + bottom) / 2
        # a label further right in the same row (a two-column table's): the row's cell ends
        # where it starts, and its number ("6." before "Өтелген") is not this row's figure
        x_stop = min(
            (
                x0
                for k, (x0, t, _, n) in bands.items()
                if k != key and x0 > x_end + lh and t < y_bot and n > top + 0.5 * lh
            ),
            default=prep.binary.shape[1],
        )
        # a row shared with a label of another column is as tall as its tallest cell: a
        # short label's figure, centred in it, can start well below the label's last line
        x_key = bands[key][0]
        shared_row = any(
            k != key and abs(x0 - x_key) > COLUMN_APART * lh and t < y_bot and n > top + 0.5 * lh
            for k, (x0, t, _, n) in bands.items()
        )
        if shared_row:
            shared_rows.add(key)
        # a ruled table's row: its figure may stand anywhere in its cell, below the
        # label's lines too (a tall cell of words centres it low), never past its rule
        cell = _ruled_cell(rules, top, bottom, nxt, lh)
        reach = (2.0 if shared_row else 0.5) * lh
        strangers = orphans  # unexplained text: maybe the label of a row not found
        if cell is not None:
            y_bot = min(y_bot, cell[1])
            reach = max(reach, cell[1] - bottom - 0.75 * lh)
            # ... but not inside this row's own ruled cell: no row's label stands between
            # its rules but its own (unexplained text there is its number in words, garbled)
            strangers = [ln for ln in orphans if not cell[0] <= ln.box[1] < ln.box[3] <= cell[1]]
        clusters = [
            c
            for c in fig.find_clusters(masked, int(x_end + 0.3 * lh), top, y_bot, lh)
            if c[0][0] + c[0][2] <= x_stop
            and c[0][3] >= 0.75 * lh  # a figure is at least as tall as the label text
            and c[0][1] <= bottom + reach
            and (cell is None or c[0][1] + c[0][3] <= cell[1])
            and _nearest_label(c[0], label_mids, lh, bands) == key
            and not _closer_to_orphan(c[0], label_mid, strangers, bottom, lh)
        ]
        if not clusters:
            continue
        # the first cluster that reads as digits; else the first (it will go to review).
        # One taken past ink that did not read as digits is not sure to be the figure
        # (the figure unread, and a fragment of its box's edge read as "1")
        chosen = None
        for n, (box, mask) in enumerate(clusters[:3]):
            mread = fig.read_with_model(mask, model, lh)
            if mread.digits is not None:
                joined = _boxed_digits(clusters, n, lh)
                if joined is not None:  # one digit a box: the figure is all of them
                    jread = fig.read_with_model(joined[1], model, lh)
                    if jread.digits is not None:
                        box, mask, mread = joined[0], joined[1], jread
                        boxed[key] = joined[2]
                chosen = (box, mread)
                left_passed = any(not _text_far_left(c[0], box, lh) for c in clusters[:n])
                if left_passed:
                    passed_over.add(key)
                if _more_digits_right(box, clusters[n + 1 :]):
                    # digit-sized ink close right of it: the figure may go on there (digits
                    # one a box, two of them joined by a stroke over the box's side: "58"
                    # and "1" of 581). It is read with that ink, and still only accepted
                    # when its words agree
                    passed_over.add(key)
                    longer = _joined_right((box, mask), clusters[n + 1 :])
                    lread = fig.read_with_model(longer[1], model, lh)
                    if lread.digits is not None:
                        box, mask, mread = longer[0], longer[1], lread
                        chosen = (box, mread)
                        if not left_passed:
                            joined_right.add(key)
                break
        if chosen is None:
            box, mask = clusters[0]
            chosen = (box, fig.read_with_model(mask, model, lh))
        located[key] = chosen
        masks[key] = mask
        if cell is not None and chosen[0][1] > bottom + 0.5 * lh:
            ruled_rows.add(key)
    box_pitch = 0.0  # on a page of digit boxes, their pitch
    if len(boxed) >= BOXED_PAGE:
        # figures in digit boxes stand right-aligned in them: one ending a box or more
        # left of the others lost its last digits to the box's sides (a typed "12" read 1)
        right = sorted(located[k][0][0] + located[k][0][2] for k in boxed)[len(boxed) // 2]
        box_pitch = sorted(boxed.values())[len(boxed) // 2]
        for k, (box, _) in located.items():
            if box[0] + box[2] < right - 0.5 * box_pitch:
                passed_over.add(k)
    end = _level_end([box for box, _ in located.values()], lh) if joined_right else None
    if end is not None:
        # the page's figures end level (right-aligned, in digit boxes or a column):
        # ink joined right of a figure's first digits that ends there too is the
        # rest of the figure ("1" in its box, "286" in the next three, their sides
        # gone: two clusters), not a mark or another figure beyond it
        passed_over -= {
            k for k in joined_right if abs(located[k][0][0] + located[k][0][2] - end) <= 0.5 * lh
        }
    # figures of a right-aligned column (in digit boxes too, though read as one cluster
    # each: their sides gone) that end short of it
    passed_over |= _short_of_column({k: box for k, (box, _) in located.items()}, lh)
    stacked_page = False
    if len(located) < STACKED_SHARE * len(hits) and len(hits) >= STACKED_LABELS_MIN:
        # few figures level with their labels: the figures may stand above their labels,
        # right-aligned on lines of their own (their words under them), the labels on
        # leader lines lower down. Then each label owns what is between it and the label
        # above it, and so do its words
        tops = sorted((min(h.box[1] for h in hs), k) for k, hs in hits.items())
        above: dict[str, tuple[tuple[tuple[int, int, int, int], fig.ModelReading], np.ndarray]]
        above = {}

        def figure_above(key: str, top: int, y_top: int) -> None:
            x_end = max(
                (w.box[0] + w.box[2] for w in label_words[key]),
                default=max(h.box[2] for h in hits[key]),
            )
            found = [
                (box, mask, mread)
                for box, mask in fig.find_clusters(
                    masked, int(x_end + 0.3 * lh), y_top, int(top - 0.2 * lh), lh
                )
                if box[3] >= 0.75 * lh
                for mread in [fig.read_with_model(mask, model, lh)]
                if mread.digits is not None or _reads_as_digits(mask)
            ]
            found = _words_under(found)
            if len(found) == 1:  # two figures between two labels: neither is sure
                box, mask, mread = found[0]
                above[key] = ((box, mread), mask)

        for i, (top, key) in enumerate(tops):
            prev = tops[i - 1][1] if i else None
            y_top = (
                int(max(h.box[3] for h in hits[prev]) + 0.2 * lh)
                if prev is not None
                else int(top - STACKED_FIRST * lh)
            )
            figure_above(key, top, y_top)
        label_top = {k: top for top, k in tops}

        def rise(k: str) -> int:
            """How far above its label the top of a label's figure stands."""
            return label_top[k] - above[k][0][0][1]

        first_top, first_key = tops[0]
        stands = [rise(k) for _, k in tops[1:] if k in above]
        if first_key not in above and len(stands) >= STACKED_LABELS_MIN - 1:
            # the first label has no label above it to bound it: it reaches as high as the
            # other labels' figures stand above them, then STACKED_FAR text heights (a tall
            # figure, its words on two lines: there, only with a number in words read
            # between it and the label, not a number of the page's heading); never more
            # than one cluster that reads as digits in reach
            near_top = first_top - STACKED_FIRST * lh
            reach = int(first_top - max(stands) - STACKED_FIRST_MARGIN * lh)
            if reach < near_top:
                figure_above(first_key, first_top, reach)
            far = int(first_top - STACKED_FAR * lh)
            if first_key not in above and far < min(reach, near_top):
                figure_above(first_key, first_top, far)
                if first_key in above and not _words_between(
                    runs, above[first_key][0][0], first_top
                ):
                    del above[first_key]
        # a label missed between two found ones leaves its figure in the next one's reach:
        # a figure standing much further above its label than the page's figures stand above
        # theirs is another row's (a hard photo: Baytak's label unread, its 174 taken for
        # AMANAT's 1068, which was not found)
        rises = {k: rise(k) for k in above}
        pitch = [b - a for (a, _), (b, _) in itertools.pairwise(tops)]
        if len(rises) >= STACKED_LABELS_MIN - 1:
            most = float(np.median(list(rises.values()))) + STACKED_RISE * float(np.median(pitch))
            for k in [k for k, r in rises.items() if r > most]:
                del above[k]
        if len(above) >= STACKED_SHARE * len(hits) and len(above) > len(located):
            located = {k: v[0] for k, v in above.items()}
            masks = {k: v[1] for k, v in above.items()}
            passed_over = set()
            run_of = _assign_runs_above(runs, tops, label_lines)
            stacked_page = True
    below = (
        set() if stacked_page else _maybe_the_next_rows(located, hits, shared_rows | ruled_rows, lh)
    )
    # one figure, one label: a cluster claimed by two labels is nobody's for sure
    claimed: dict[tuple[int, int, int, int], list[str]] = {}
    for key, (box, _) in located.items():
        claimed.setdefault(box, []).append(key)
    shared = {k for keys in claimed.values() if len(keys) > 1 for k in keys}
    # (in digit boxes, a digit lost from a figure's start stands a box's pitch off: a typed
    # "71" read 1, its "7" read by Tesseract as letters and taken for stray text)
    reach = BOX_REACH * box_pitch
    lonely = {k for k, (box, _) in located.items() if not fig.isolated(clean, box, lh, reach)}
    lonely |= passed_over
    # ink inside a figure that is none of its glyphs: maybe a digit written small or faint
    lonely |= {k for k, (box, _) in located.items() if fig.ink_inside(masked, box, masks[k], lh)}
    # a label placed by order, not read, is the form's order taken for the page's: rows may
    # be printed in another order (the parties shuffled, "Против всех" last), so its figure
    # is shown for review (a shuffled page's "Народная партия" row, garbled, placed as
    # Respublica's between Auyl and Baytak: its figure and words agreed). Unless it is the
    # one label of the form not read on the page: every other row is found elsewhere, and
    # the one unexplained row left is its row, whatever the order
    by_elimination = len(placed) == 1 and all(k in hits for k in form.keys)
    crowded = crowded_labels(form, hits, lines=lines)
    heights = sorted(box[3] for box, _ in located.values())
    typical = heights[len(heights) // 2] if heights else 0
    # a "figure" much taller than the others is two rows' figures run together
    stacked = {k for k, (box, _) in located.items() if len(heights) >= 3 and box[3] > 1.7 * typical}
    footed: set[str] = set()  # figures with a "1" that has a foot (fig.footed_one)
    keys_located = list(located)
    tess_reads = dict(
        zip(
            keys_located,
            fig.read_with_tesseract(prep.gray, [located[k][0] for k in keys_located], lh),
            strict=True,
        )
    )
    seq_list = load_sequence_model().read([masks[k] for k in keys_located])
    seq_reads = dict(zip(keys_located, seq_list, strict=True))
    pad = int(0.4 * lh)
    text_list = load_recogniser().read(
        [fig.gray_crop(prep.gray, located[k][0], pad) for k in keys_located]
    )
    text_reads = dict(zip(keys_located, text_list, strict=True))
    fields: dict[str, FieldReading] = {}
    for key in form.keys:
        row_run: WordsRun | None = run_of.get(key)
        words = row_run.text if row_run is not None else None
        words_value = row_run.value if row_run is not None else None
        if key not in hits:
            fields[key] = FieldReading(
                key,
                None,
                Status.UNREADABLE,
                0.0,
                "",
                words,
                words_value,
                (),
                (0, 0, 0, 0),
                Reason.LABEL_NOT_FOUND,
            )
            continue
        if key not in located:
            none = fig.ModelReading(None, 0.0, ())
            status, reason, conf, cands = decide(
                none, none, (None, 0.0), row_run, SequenceReading(None, 0.0)
            )
            if status is not Status.UNREADABLE:
                status, reason = Status.REVIEW, Reason.FIGURE_NOT_FOUND
            fields[key] = FieldReading(
                key,
                cands[0] if cands else None,
                status,
                conf,
                "",
                words,
                words_value,
                tuple(cands),
                (0, 0, 0, 0),
                reason,
            )
            continue
        box, mreading = located[key]
        treading = tess_reads.get(key, (None, 0.0))
        breading = fig.second_opinion(mreading, model_b)
        sreading = seq_reads[key]
        preading = text_reads[key]
        status, reason, conf, cands = decide(
            mreading, breading, treading, row_run, sreading, preading
        )
        # the glyph network's glyphs are the accepted figure's: their ink can be judged
        glyphs_accepted = (
            status is Status.ACCEPTED
            and mreading.digits is not None
            and bool(cands)
            and int(mreading.digits) == cands[0]
        )
        # two "1"s written into one stroke are one "1" to every reader: the ink shows them
        if (
            glyphs_accepted
            and reason is not Reason.DIGITS_AND_WORDS_AGREE
            and fig.doubled_one(mreading)
        ):
            status, reason, conf = Status.REVIEW, Reason.ONE_TWO_STROKES_THICK, conf * 0.5
        # a "1" with a foot can be a "2": such a figure needs the arithmetic, its words or
        # Tesseract (a reader of print, that misreads handwriting) to stand
        if (
            glyphs_accepted
            and status is Status.ACCEPTED
            and fig.footed_one(mreading)
            and not (treading[0] == mreading.digits and treading[1] >= TESS_MIN)
        ):
            footed.add(key)
        if status is Status.ACCEPTED and key in stacked:
            status, reason, conf = Status.REVIEW, Reason.FIGURE_NOT_ISOLATED, conf * 0.5
        if status is Status.ACCEPTED and key in below:
            status, reason, conf = Status.REVIEW, Reason.FIGURE_NOT_LEVEL, conf * 0.5
        if status is Status.ACCEPTED and key in placed and not by_elimination:
            status, reason, conf = Status.REVIEW, Reason.LABEL_PLACED_BY_ORDER, conf * 0.5
        # which row a label is found on is not shown by its figure and words agreeing: both
        # are read from the row found (a garbled "«Respublica» партиясы" matched as
        # "«AMANAT» партиясы" on a shuffled page, its 105 and "сто пять" accepted for it)
        if status is Status.ACCEPTED and key in crowded:
            status, reason, conf = Status.REVIEW, Reason.LABEL_CROWDED, conf * 0.5
        if status is Status.ACCEPTED and key in shared:
            status, reason, conf = Status.REVIEW, Reason.FIGURE_SHARED, conf * 0.5
        if status is Status.ACCEPTED and reason is not Reason.DIGITS_AND_WORDS_AGREE:
            if key in lonely:
                status, reason, conf = Status.REVIEW, Reason.FIGURE_NOT_ISOLATED, conf * 0.5
        digits = mreading.digits or treading[0] or ""
        value = cands[0] if cands else None  # when accepted: the value accepted
        fields[key] = FieldReading(
            key,
            value,
            status,
            conf,
            digits,
            words,
            words_value,
            tuple(cands),
            fig.to_image_box(box, prep.to_image, factor),
            reason,
            fig.png_crop(prep.gray, box, pad),
            (
                ("glyphs_a", mreading.digits, mreading.confidence),
                ("glyphs_b", breading.digits, breading.confidence),
                ("sequence", sreading.digits, sreading.confidence),
                ("tesseract", treading[0], treading[1]),
                ("ppocr", preading.digits, preading.confidence),
                ("words", None if words_value is None else str(words_value), 1.0),
            ),
        )
    # three kinds of reader alike on a page whose hand they misread: such a figure stands
    # only on the arithmetic or its words, as a footed "1" does
    shaky = doubt_misread_digits(fields)
    rank_by_relations(form, fields)
    accepted = accepted_values(fields)
    rels = tuple(RelationCheck(r.text, r.evaluate(accepted, form.groups)) for r in form.relations)
    # (the relations are reported as the figures were read)
    doubt_by_relations(form, fields, footed)
    doubt_unsupported(form, fields, footed | shaky)
    misplaced = stacked | below | shared | lonely | set(crowded)
    if not by_elimination:
        misplaced |= set(placed)
    accept_by_relations(form, fields, misplaced)
    # a relation its figures' acceptance by the arithmetic completed holds now (one that
    # did not hold as the figures were read is still reported so)
    final = accepted_values(fields)
    rels = tuple(
        RelationCheck(c.relation, r.evaluate(final, form.groups)) if c.holds is None else c
        for c, r in zip(rels, form.relations, strict=True)
    )
    return ProtocolReading(
        form.id,
        sha,
        tuple(fields[k] for k in form.keys),
        rels,
        time.perf_counter() - t0,
        None,
        _versions(),
        precinct,
    )


def read_protocol(image: bytes, form: Form) -> ProtocolReading:
    """Read every figure of ``form`` from the protocol photo ``image`` (encoded bytes).

    Never raises on bad input: an image that cannot be read gives every field
    ``unreadable`` with the reason (``ProtocolReading.problem``). Raises
    :class:`ocr.errors.MissingDependency` only if Tesseract or a reader's model is missing.
    """
    t0 = time.perf_counter()
    sha = hashlib.sha256(image).hexdigest()
    decoded = decode(image)
    if isinstance(decoded, ImageProblem):
        return _unreadable(form, sha, _PROBLEM_REASON[decoded], t0)
    img, factor = decoded
    prep = prepare(img)
    if isinstance(prep, ImageProblem):
        return _unreadable(form, sha, _PROBLEM_REASON[prep], t0)
    return read_prepared(prep, factor, form, sha, t0)


__all__ = ["read_prepared", "read_protocol"]
