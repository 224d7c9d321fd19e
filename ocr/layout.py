"""Find the form's printed labels on a page of Tesseract words, with no layout coordinates.

Words are grouped into text lines; each label (Russian and Kazakh) is matched against
single lines and runs of up to three consecutive lines by a fuzzy local alignment
tolerant of OCR noise, line breaks, numbering and dotted leaders; a one-to-one
assignment keeps two labels from claiming the same line. Lines that spell a number in
words are found the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise

from ocr.engine import Word
from ocr.forms import Form, Label
from ocr.numwords import KAZAKH_AS_RUSSIAN, parse_number_words

_FOLD = str.maketrans(
    {
        **KAZAKH_AS_RUSSIAN,
        "й": "и",
        "a": "а",
        "b": "в",
        "c": "с",
        "e": "е",
        "h": "н",
        "i": "и",
        "k": "к",
        "m": "м",
        "n": "п",
        "o": "о",
        "p": "р",
        "r": "г",
        "s": "с",
        "t": "т",
        "u": "и",
        "x": "х",
        "y": "у",
        "l": "л",
    }
)


#: Capital Latin letters that look like Cyrillic capitals ("AMANAT" is read "АМАНАТ"); the
#: lowercase ones (``_FOLD``) look like other letters ("n" like "п").
_FOLD_UPPER = str.maketrans(
    {"A": "а", "B": "в", "C": "с", "E": "е", "H": "н", "K": "к", "M": "м", "N": "н", "O": "о",
     "P": "р", "T": "т", "X": "х", "Y": "у"}
)  # fmt: skip


def fold(text: str) -> str:
    """Lowercase letters only, Kazakh and Latin look-alikes folded to Russian, single spaces."""
    t = text.translate(_FOLD_UPPER).lower().translate(_FOLD)
    t = re.sub(r"[^а-яa-z ]+", " ", t)
    return " ".join(t.split())


def _label_fold(folded: str) -> str:
    """A folded text as labels are matched on it: "з" taken for "с" (a Latin "s" in a
    party's name, "«Respublica»", comes out of Tesseract's Cyrillic models as either)."""
    return folded.replace("з", "с")


def fold_label(label: str) -> str:
    """A printed label folded as its lines are (:func:`fold`, :func:`_label_fold`), its
    capital Latin "R" as the "К" Tesseract's Cyrillic models read it as ("«Respublica»"
    read "кезримиса", "керириса")."""
    return _label_fold(fold(label.replace("R", "К")))


@dataclass(frozen=True)
class Line:
    """A text line of the page."""

    index: int
    words: tuple[Word, ...]
    text: str
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1."""
    block: tuple[int, int]


@dataclass(frozen=True)
class LabelHit:
    """Where a label was found."""

    key: str
    lang: str
    score: float
    """0..1 fuzzy match score."""
    lines: tuple[int, ...]
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 of the matched lines."""


@dataclass(frozen=True)
class WordsRun:
    """Consecutive lines that spell a number in words."""

    lines: tuple[int, ...]
    text: str
    value: int | None
    box: tuple[int, int, int, int]


#: Words on one Tesseract line this many word heights apart, text after the gap, stand in
#: two columns: Tesseract read a two-column table's row as one line ("1 Число избирателей
#: включенных в          8 Партия «AMANAT»").
COLUMN_GAP = 3.0


def _columns(ws: list[Word]) -> list[list[Word]]:
    """A line's words (left to right) cut where a wide gap is followed by text; a figure
    after a wide gap stays with the text before it (a label and its figure)."""
    heights = sorted(w.box[3] for w in ws)
    h = heights[len(heights) // 2]
    parts: list[list[Word]] = [[ws[0]]]
    for prev, w in pairwise(ws):
        if w.box[0] - (prev.box[0] + prev.box[2]) > COLUMN_GAP * h:
            parts.append([w])
        else:
            parts[-1].append(w)

    def text(part: list[Word]) -> bool:
        return any(sum(c.isalpha() for c in w.text) >= 2 for w in part)

    out = [parts[0]]
    for part in parts[1:]:
        if text(part):
            out.append(part)
        else:
            out[-1].extend(part)
    return out


def group_lines(words: tuple[Word, ...]) -> list[Line]:
    """Tesseract words grouped by (block, paragraph, line), in reading order; a line that
    runs across two columns of text is two lines (:data:`COLUMN_GAP`), the right one in a
    block of its own."""
    by: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        by.setdefault(w.line, []).append(w)
    out: list[Line] = []
    for key, ws in sorted(by.items()):
        ws.sort(key=lambda w: w.box[0])
        for col, part in enumerate(_columns(ws)):
            x0 = min(w.box[0] for w in part)
            y0 = min(w.box[1] for w in part)
            x1 = max(w.box[0] + w.box[2] for w in part)
            y1 = max(w.box[1] + w.box[3] for w in part)
            block = (key[0], key[1] + 1000 * col)
            text = " ".join(w.text for w in part)
            out.append(Line(len(out), tuple(part), text, (x0, y0, x1, y1), block))
    return out


@lru_cache(maxsize=1 << 15)
def _local_score(label: str, text: str) -> tuple[float, float]:
    """(score, coverage): alignment of ``label`` with its best span of ``text``, and the
    share of ``text`` that span covers. Remembered: a page's labels are scored against the
    same lines again (the gaps between the labels found, the order check, the page read
    again levelled), and a hard photo's many lines made this a second of its CPU."""
    if not label or not text:
        return 0.0, 0.0
    sm = SequenceMatcher(None, label, text, autojunk=False)
    blocks = [b for b in sm.get_matching_blocks() if b.size]
    if not blocks:
        return 0.0, 0.0
    matched = sum(b.size for b in blocks)
    start = blocks[0].b
    end = blocks[-1].b + blocks[-1].size
    span = end - start
    return 2.0 * matched / (len(label) + span), span / len(text)


@lru_cache(maxsize=1 << 10)
def _positions(label: str) -> dict[str, int]:
    """Each letter of ``label``: the bit mask of where it stands."""
    masks: dict[str, int] = {}
    for i, ch in enumerate(label):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    return masks


def _common_subsequence(label: str, text: str) -> int:
    """The length of the longest common subsequence of ``label`` and ``text``, a text
    letter at a time over bit vectors (Hyyrö, 2004): a few integer operations a letter."""
    masks = _positions(label)
    full = (1 << len(label)) - 1
    v = full
    for ch in text:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(label) - v.bit_count()


def _score_bound(label: str, text: str) -> float:
    """An upper bound of :func:`_local_score`'s score, cheap: the blocks it matches are a
    common subsequence of the two, so no longer than the longest one, and the span they
    match in is at least as long."""
    common = _common_subsequence(label, text)
    return 2.0 * common / (len(label) + common) if common else 0.0


def _strip_number(text: str) -> str:
    return re.sub(r"^\s*\d+\s*[.,;:)]?\s*", "", text)


def _label_text(line: Line) -> str:
    """The text of ``line`` that can be a label, folded: up to a wide gap or a token of
    three or more characters without a letter (dots, a figure: the figure lies beyond),
    without the row number or any number in words (a table row read as one line, "7
    Против всех 38 тридцать восемь", is matched as "против всех")."""
    hs = sorted(w.box[3] for w in line.words)
    h = hs[len(hs) // 2] if hs else 0
    kept: list[str] = []
    prev_end = None  # set once the label's first word (not the row number) is kept
    for w in line.words:
        if prev_end is not None:
            dots = len(w.text) >= 3 and not any(c.isalpha() for c in w.text)
            if dots or w.box[0] - prev_end > 2.5 * h:
                break
        kept.append(w.text)
        if prev_end is not None or sum(c.isalpha() for c in w.text) >= 2:
            prev_end = w.box[0] + w.box[2]
    text = fold(_strip_number(" ".join(kept)))
    return _label_fold(" ".join(t for t in text.split() if not _number_word(t)))


def _box(lines: list[Line]) -> tuple[int, int, int, int]:
    return (
        min(ln.box[0] for ln in lines),
        min(ln.box[1] for ln in lines),
        max(ln.box[2] for ln in lines),
        max(ln.box[3] for ln in lines),
    )


def _far_below(prev: Line, nxt: Line) -> bool:
    """True when ``nxt`` starts further under ``prev`` than the next line of a wrapped
    label can: in a table, the row under it."""
    return nxt.box[1] - prev.box[3] >= 1.2 * (prev.box[3] - prev.box[1])


def _below(prev: Line, nxt: Line) -> bool:
    """True when ``nxt`` can continue the text of ``prev``: just under it, not
    :func:`_far_below` (touching allowed: a tall figure on ``prev`` can reach down to it),
    and overlapping it horizontally."""
    lh = prev.box[3] - prev.box[1]
    gap = nxt.box[1] - prev.box[3]
    overlap = min(prev.box[2], nxt.box[2]) - max(prev.box[0], nxt.box[0])
    return (
        -0.5 * lh <= gap and not _far_below(prev, nxt) and overlap > 0 and nxt.box[1] > prev.box[1]
    )


def _spans(lines: list[Line], max_len: int = 3) -> list[list[Line]]:
    """Single lines and runs of up to ``max_len`` lines that may be one wrapped label:
    each the nearest line just under the one before, whatever Tesseract's block (it
    often puts a label's second line in another block, or numbers it after lines of
    another column); failing that, the next line of the same block, unless it lies
    further down than a label's next line can (a figure read as text in a table's cell
    is not the first line of the label in the row under it)."""
    out = []
    for i in range(len(lines)):
        run = [lines[i]]
        out.append(list(run))
        while len(run) < max_len:
            prev = run[-1]
            taken = {r.index for r in run}
            under = [ln for ln in lines if ln.index not in taken and _below(prev, ln)]
            j = prev.index + 1
            if under:
                nxt = min(under, key=lambda ln: ln.box[1])
            elif (
                j < len(lines)
                and j not in taken
                and lines[j].block == prev.block
                and not _far_below(prev, lines[j])
            ):
                nxt = lines[j]
            else:
                break
            run.append(nxt)
            out.append(list(run))
    return out


#: Match score a label needs in the second pass, where only the gap the form's printed
#: order leaves for it is searched (long labels; short ones need RELAXED_SHORT).
RELAXED = 0.62
RELAXED_SHORT = 0.75


def find_labels(
    form: Form, lines: list[Line], threshold: float = 0.72
) -> dict[str, list[LabelHit]]:
    """For each figure key, the lines its Russian and/or Kazakh label was found on.

    First every label is matched against the whole page at ``threshold``; then each
    label still missing is looked for, at a lower score, only among the unclaimed lines
    between the labels printed before and after it (:func:`_fill_gaps`)."""
    folded = [_label_text(ln) for ln in lines]
    cands = []
    for span in _spans(lines):
        text = " ".join(folded[ln.index] for ln in span)
        if len(text) >= 3:
            cands.append((span, text))
    scored = []
    for lab in form.labels:
        for lang, label in (("ru", lab.ru), ("kk", lab.kk)):
            flabel = fold_label(label)
            for span, text in cands:
                if abs(len(text) - len(flabel)) > max(len(flabel), 12) * 1.5:
                    continue
                # difflib's real_quick_ratio, without building a matcher
                if 2.0 * min(len(flabel), len(text)) / (len(flabel) + len(text)) < 0.4 * threshold:
                    continue
                need = threshold if len(flabel) >= 15 else max(threshold, 0.85)
                if _score_bound(flabel, text) < need:
                    continue
                score, cover = _local_score(flabel, text)
                if score >= need and cover >= 0.45:
                    scored.append((score + 0.02 * cover, lab.key, lang, span))
    scored.sort(key=lambda s: -s[0])
    used_lines: set[int] = set()
    done: set[tuple[str, str]] = set()
    hits: dict[str, list[LabelHit]] = {}
    for score, key, lang, span in scored:
        ids = tuple(ln.index for ln in span)
        if (key, lang) in done or used_lines.intersection(ids):
            continue
        done.add((key, lang))
        used_lines.update(ids)
        hits.setdefault(key, []).append(LabelHit(key, lang, min(1.0, score), ids, _box(span)))
    _keep_in_order(form, lines, hits, used_lines)
    _keep_room(form, lines, hits, used_lines)
    _fill_gaps(form, lines, cands, hits, used_lines)
    _keep_room(form, lines, hits, used_lines)  # a gap filled may be crowded too
    return hits


#: A label found out of the form's order is kept when it matched its line this well and
#: no other label of the form came within OUT_OF_ORDER_MARGIN of it there.
OUT_OF_ORDER_SURE = 0.85
OUT_OF_ORDER_MARGIN = 0.1


def _keep_in_order(
    form: Form, lines: list[Line], hits: dict[str, list[LabelHit]], used_lines: set[int]
) -> None:
    """Drop, in place, the doubtful labels found out of the form's printed order (top to
    bottom): of the fewest that leave the rest in order (a longest increasing run), those
    whose line another label of the form also matches nearly as well, or that matched
    weakly. A short label that shares a word with another ("«AMANAT» партиясы",
    "«Respublica» партиясы") can match the other's line; its figure would be another
    row's. A label out of order that only it matches well stays: rows may be printed in
    another order than the form file's ("Против всех" after the parties, the parties in
    another order). Their lines are freed."""
    keys = [k for k in form.keys if k in hits]
    tops = [min(h.box[1] for h in hits[k]) for k in keys]
    best: list[list[int]] = []  # best[i]: longest increasing run of tops ending at i
    for i, top in enumerate(tops):
        prev = max((best[j] for j in range(i) if tops[j] < top), key=len, default=[])
        best.append([*prev, i])
    keep = {keys[i] for i in max(best, key=len, default=[])}
    folded = {ln.index: _label_text(ln) for ln in lines}
    for k in keys:
        if k not in keep and not all(_unrivalled(form, h, folded) for h in hits[k]):
            for h in hits.pop(k):
                used_lines.difference_update(h.lines)


def _unrivalled(
    form: Form,
    hit: LabelHit,
    folded: dict[int, str],
    hits: dict[str, list[LabelHit]] | None = None,
) -> bool:
    """True when ``hit`` matched its line well and no other label of the form comes near;
    with ``hits``, a label found on a line of its own that it matches at least as well as
    this one is no rival ("5. Жарамсыз бюллетеньдер саны", found, is none to "6. Өтелген
    бюллетеньдер саны" on their shared words)."""
    if hit.score < OUT_OF_ORDER_SURE:
        return False
    text = " ".join(folded[i] for i in hit.lines)

    def placed_better(key: str, score: float) -> bool:
        return hits is not None and any(
            not set(h.lines) & set(hit.lines) and h.score >= score for h in hits.get(key, ())
        )

    rival = max(
        (
            score
            for lab in form.labels
            if lab.key != hit.key
            for label in (lab.ru, lab.kk)
            for score in [_local_score(fold_label(label), text)[0]]
            if not placed_better(lab.key, score)
        ),
        default=0.0,
    )
    return rival <= hit.score - OUT_OF_ORDER_MARGIN


def _keep_room(
    form: Form, lines: list[Line], hits: dict[str, list[LabelHit]], used_lines: set[int]
) -> None:
    """Drop, in place, the weaker of two labels found in printed order that leave too
    few text lines between them for the labels missing between them: each missing label
    takes a line at least. "«AMANAT» партиясы" matched the garbled line of "«Respublica»
    партиясы", three rows down, on its quotes and "партиясы": in order still, but
    right above "«Байтақ»" with three labels missing and no line between; the figure of
    the Respublica row was accepted as AMANAT's. A label that only it matches well, on
    its line, stays (:func:`_unrivalled`). Their lines are freed."""
    folded = {ln.index: _label_text(ln) for ln in lines}
    while True:
        keys = [k for k in form.keys if k in hits]
        if len(keys) < 2:
            return
        x0 = sorted(min(h.box[0] for h in hits[k]) for k in keys)[len(keys) // 2]
        tall = sorted(h.box[3] - h.box[1] for k in keys for h in hits[k])[len(keys) // 2]
        text_lines = [
            ln
            for ln in lines
            if abs(ln.box[0] - x0) <= 3 * tall and sum(c.isalpha() for c in ln.text) >= 3
        ]
        weaker = None
        for a, b in pairwise(keys):
            missing = form.keys.index(b) - form.keys.index(a) - 1
            if missing == 0:
                continue
            low = max(h.box[3] for h in hits[a])
            high = min(h.box[1] for h in hits[b])
            if high < min(h.box[1] for h in hits[a]):
                continue  # printed in another order than the form's: no room to count
            room = sum(1 for ln in text_lines if low - 2 <= ln.box[1] and ln.box[3] <= high + 2)
            if room < missing:
                # the weaker of the two, unless only it matches its line well
                doubtful = [
                    k for k in (a, b) if not all(_unrivalled(form, h, folded) for h in hits[k])
                ]
                if doubtful:
                    weaker = min(doubtful, key=lambda k: max(h.score for h in hits[k]))
                    break
        if weaker is None:
            return
        for h in hits.pop(weaker):
            used_lines.difference_update(h.lines)


def crowded_labels(
    form: Form,
    hits: dict[str, list[LabelHit]],
    share: float = 0.75,
    lines: list[Line] | None = None,
    out_of_order: bool = False,
) -> set[str]:
    """Keys of labels found much closer to the label found before them than the rows
    printed between take: fewer than ``share`` of the usual row pitch (from rows whose
    next row was found too) for each row. One of the two was found on another row's
    line: on a bilingual hard photo "Народная партия Казахстана" matched the line of
    "Демократическая партия Казахстана «Ак жол»", four rows up, on their shared words,
    and that row's figure was accepted for it. Both go to review.

    On a page whose rows are printed in another order than the form's, the rows between
    two labels are not known: there, labels closer to the one above them (on the page)
    than ``share`` of a row and starting within a line of its end, and labels whose line
    another label of the form matches nearly as well (``lines`` given,
    :func:`_unrivalled`), go to review.

    Whether a page is printed in the form's order is a matter of the whole page: in a
    two-column table (read column by column) one column's labels can follow the form's
    order by chance while the page does not (``out_of_order``): the first party printed
    under "6. Число погашенных бюллетеней" is not seven rows from it because the form lists
    "Против всех" and six parties before it."""
    columns = label_columns(hits)
    tops = {k: min(h.box[1] for h in hs) for k, hs in hits.items()}
    if len(columns) > 1:  # a two-column table: rows are spaced within each column
        printed = [k for column in columns for k in sorted(column, key=lambda k: tops[k])]
        out_of_order = out_of_order or printed != sorted(printed, key=form.keys.index)
        out_cols: set[str] = set()
        for column in columns:
            out_cols |= crowded_labels(
                form, {k: hits[k] for k in column}, share, lines, out_of_order
            )
        return out_cols
    keys = [k for k in form.keys if k in tops]
    if out_of_order or any(tops[b] < tops[a] for a, b in pairwise(keys)):
        return _crowded_on_the_page(form, hits, tops, share, lines)
    index = {k: form.keys.index(k) for k in keys}
    steps = sorted(tops[b] - tops[a] for a, b in pairwise(keys) if index[b] == index[a] + 1)
    if not steps:
        return set()
    pitch = steps[len(steps) // 2]
    out: set[str] = set()
    for a, b in pairwise(keys):
        rows = index[b] - index[a]
        if rows > 1 and tops[b] - tops[a] < share * rows * pitch:
            out |= {a, b}
    return out


#: Labels whose starts lie more than this share of the labels' whole width apart stand in
#: different columns; each column holds at least COLUMN_LABELS of them.
COLUMN_SPLIT = 0.2
COLUMN_LABELS = 3


def label_columns(hits: dict[str, list[LabelHit]]) -> list[set[str]]:
    """The found labels by the column of the table they stand in, left to right: one
    column unless their starts fall into groups far apart, each of COLUMN_LABELS or more
    (a two-column table)."""
    starts = sorted((min(h.box[0] for h in hs), k) for k, hs in hits.items())
    if len(starts) < 2 * COLUMN_LABELS:
        return [set(hits)]
    right = max(h.box[2] for hs in hits.values() for h in hs)
    cut = COLUMN_SPLIT * (right - starts[0][0])
    groups: list[list[str]] = [[starts[0][1]]]
    for (xa, _), (xb, kb) in pairwise(starts):
        if xb - xa > cut:
            groups.append([])
        groups[-1].append(kb)
    if any(len(g) < COLUMN_LABELS for g in groups):
        return [set(hits)]
    return [set(g) for g in groups]


def _crowded_on_the_page(
    form: Form,
    hits: dict[str, list[LabelHit]],
    tops: dict[str, int],
    share: float,
    lines: list[Line] | None,
) -> set[str]:
    """:func:`crowded_labels` for a page printed in another order than the form's."""
    by_top = sorted(tops, key=lambda k: tops[k])
    steps = sorted(tops[b] - tops[a] for a, b in pairwise(by_top))
    bottoms = {k: max(h.box[3] for h in hs) for k, hs in hits.items()}
    singles = sorted(h.box[3] - h.box[1] for hs in hits.values() for h in hs if len(h.lines) == 1)
    line = singles[len(singles) // 2] if singles else 0
    out: set[str] = set()
    if steps:
        pitch = steps[len(steps) // 2]
        for a, b in pairwise(by_top):
            # rows are as tall as their labels: a short row is crowded only when its label
            # starts right under the label before it (on that row's next line)
            if tops[b] - tops[a] < share * pitch and tops[b] - bottoms[a] < line:
                out |= {a, b}
    if lines is not None:
        folded = {ln.index: _label_text(ln) for ln in lines}
        out |= {
            k
            for k, hs in hits.items()
            if not all(h.score == 0.0 or _unrivalled(form, h, folded, hits) for h in hs)
        }  # (a label placed by order, score 0, is never accepted anyway)
    return out


def _fill_gaps(
    form: Form,
    lines: list[Line],
    cands: list[tuple[list[Line], str]],
    hits: dict[str, list[LabelHit]],
    used_lines: set[int],
) -> None:
    """Second pass of :func:`find_labels`, in place: a label missed by OCR noise ("Протне
    всех" for "Против всех") is taken at a lower score, but only from unclaimed lines
    lying between the found labels printed just before and just after it (a form's
    keys are in printed order), and only if that text matches it better than any other
    label of the form, so a line of another row is never taken for it."""
    labels = [(lab.key, lang, fold_label(text)) for lab in form.labels for lang, text in
              (("ru", lab.ru), ("kk", lab.kk))]  # fmt: skip
    keys = list(form.keys)
    for i, key in enumerate(keys):
        if key in hits:
            continue
        before = next((k for k in reversed(keys[:i]) if k in hits), None)
        after = next((k for k in keys[i + 1 :] if k in hits), None)
        if before is None or after is None:
            continue
        low = max(h.box[3] for h in hits[before])
        high = min(h.box[1] for h in hits[after])
        best: tuple[float, str, list[Line]] | None = None
        for span, text in cands:
            box = _box(span)
            if box[1] < low - 2 or box[3] > high + 2 or any(ln.index in used_lines for ln in span):
                continue
            # its own best label (the first in the form's order on a tie), then whether any
            # other label comes within 0.05 of it: scored only where its bound reaches that
            (score, cover), lang = max(
                ((_local_score(flabel, text), lang) for k, lang, flabel in labels if k == key),
                key=lambda s: s[0][0],
            )
            need = RELAXED if len(fold(getattr(form.labels[i], lang))) >= 15 else RELAXED_SHORT
            if score < need or cover < 0.45:
                continue
            near = score - 0.05
            if any(
                _score_bound(flabel, text) > near - 1e-9 and _local_score(flabel, text)[0] > near
                for k, _, flabel in labels
                if k != key
            ):
                continue
            if best is None or score > best[0]:
                best = (score, lang, span)
        if best is not None:
            score, lang, span = best
            ids = tuple(ln.index for ln in span)
            used_lines.update(ids)
            hits[key] = [LabelHit(key, lang, score, ids, _box(span))]


def _unread_label_lines(lines: list[Line], used: set[int], low: int, high: int) -> list[Line]:
    """The lines between heights ``low`` and ``high`` (2 px of slack) that no label claimed
    (``used``) and that read like a label."""
    return [
        ln
        for ln in lines
        if ln.index not in used
        and low - 2 <= ln.box[1]
        and ln.box[3] <= high + 2
        and _label_like(_label_text(ln))
    ]


def place_by_order(form: Form, lines: list[Line], hits: dict[str, list[LabelHit]]) -> set[str]:
    """Keys placed, in place in ``hits``: a label OCR garbled past matching ("н нецжыкае
    партижы" for "«Respublica» партиясы") that is the only one missing between two found
    labels printed just before and just after it is taken to be the unclaimed text lines
    between them that read neither as number words nor as nothing (score 0: placed by
    order, not read). Its figure is only shown for review, rows being printed in any order,
    unless it is the only label of the form not read on the page
    (:func:`ocr.read.read_prepared`)."""
    used = {i for hs in hits.values() for h in hs for i in h.lines}
    keys = list(form.keys)
    placed: set[str] = set()
    for i in range(1, len(keys) - 1):
        key, before, after = keys[i], keys[i - 1], keys[i + 1]
        if key in hits or before not in hits or after not in hits:
            continue
        low = max(h.box[3] for h in hits[before])
        high = min(h.box[1] for h in hits[after])
        span = _unread_label_lines(lines, used, low, high)
        if span:
            ids = tuple(ln.index for ln in span)
            used.update(ids)
            hits[key] = [LabelHit(key, "", 0.0, ids, _box(span))]
            placed.add(key)
    return placed


def _where_order_puts_it(
    form: Form,
    key: str,
    hit: LabelHit,
    lines: list[Line],
    hits: dict[str, list[LabelHit]],
    used: set[int],
) -> bool:
    """True when ``hit`` (a match of ``key``'s label) is where the form's order puts it: below
    the nearest label before it in the form that was found, with no more lines that no label
    claimed (``used``) and that read like a label between the two than the form's labels
    missing between them."""
    keys = list(form.keys)
    at = keys.index(key)
    before = next((k for k in reversed(keys[:at]) if k in hits), None)
    if before is None:
        return True
    low = max(h.box[3] for h in hits[before])
    high = hit.box[1]
    if high < low - 2:
        return False
    between = _unread_label_lines(lines, used, low, high)
    return len(between) <= at - keys.index(before) - 1


def latin_words(label: str) -> list[str]:
    """The Latin words of a printed label, lowercased ("respublica" of "«Respublica»
    партиясы"): Tesseract's Cyrillic models read them as garbage past matching
    ("КевраБаса", "Беврибһса", "БезриЫка"); its English model reads them right."""
    return [w.lower() for w in re.findall(r"[A-Za-z]{4,}", label)]


#: Unclaimed lines read again in Latin letters at most, in page order (a protocol has a
#: dozen or so; a page of prose would make one slow reading of hundreds).
LATIN_LINES_MAX = 24


def find_latin_labels(
    form: Form,
    lines: list[Line],
    hits: dict[str, list[LabelHit]],
    read_latin: Callable[[list[Line]], list[str]],
) -> set[str]:
    """Keys found or confirmed, in place in ``hits``, by reading lines again in Latin
    letters (``read_latin``: each line's text, read with Tesseract's English model).

    A label with a Latin word not found on the page is looked for among the unclaimed
    lines that read like a label: a line whose Latin reading holds every Latin word of the
    label, within a letter or two ("eRespubhica»"), is that label's; its language is the
    one whose other words the line matches best. A label found so on two lines in one
    language is found on neither.

    A label with a Latin word found on its line only weakly (below OUT_OF_ORDER_SURE:
    "«КевраБаса» партиясы" matched "«Respublica» партиясы" 0.76, and "«AMANAT» партиясы"
    0.83) is confirmed when that line's Latin reading holds its Latin words (the hit takes
    the Latin reading's score), and dropped when it holds another such label's instead, or
    holds neither and the line is not where the form's order puts the label
    (:func:`_where_order_puts_it`): "12 «ПГьытжа Қаман ажылдар партиясы", Baytak's row of a
    hard photo, matched "«AMANAT» партиясы" 0.79 five rows below AMANAT's garbled one; its
    Latin reading held no "AMANAT", and Baytak's 169 was accepted as AMANAT's. (Kept: a
    hard photo's "| АМАМАГ» парты", 0.76, read "paar hope" in Latin, right after the row
    before it.)

    A label with a Latin word found on its line fairly well (OUT_OF_ORDER_SURE to
    LATIN_CONTESTED) while a label of the form is missing may be on that missing label's
    row: "13. Нарадияя партия Қамасана", the People's Party's, matched "Партия «AMANAT»"
    0.87, and its 24 was accepted as AMANAT's. When one unclaimed line, not of its row,
    holds its Latin words ("һ Пари «АМАЧАТ-" read "B. Daptua CAMANAT") and its own line's
    Latin reading does not, the label moves to that line.

    The unclaimed lines above every label found (the heading) are read last, and only for a
    missing label not found below them."""
    latin = {
        lab.key: sorted(set(latin_words(lab.ru)) | set(latin_words(lab.kk)))
        for lab in form.labels
        if latin_words(lab.ru) and latin_words(lab.kk)
    }
    missing = [lab for lab in form.labels if lab.key in latin and lab.key not in hits]
    weak = [
        (key, h) for key in latin for h in hits.get(key, []) if 0.0 < h.score < OUT_OF_ORDER_SURE
    ]
    contested = (
        [
            (key, h)
            for key in latin
            for h in hits.get(key, [])
            if OUT_OF_ORDER_SURE <= h.score < LATIN_CONTESTED
        ]
        if any(k not in hits for k in form.keys)
        else []
    )
    used = {i for hs in hits.values() for h in hs for i in h.lines}
    unclaimed = (
        [ln for ln in lines if ln.index not in used and _label_like(_label_text(ln))][
            :LATIN_LINES_MAX
        ]
        if missing or contested
        else []
    )
    # the lines above every label found (the heading: a dozen lines of titles on a
    # bilingual sheet) hold a label only on a page that prints it above all the others:
    # they are read after the rest, and only for a label not found there
    top = min((h.box[1] for hs in hits.values() for h in hs), default=None)
    heading = [ln for ln in unclaimed if top is not None and ln.box[3] <= top]
    unclaimed = [ln for ln in unclaimed if top is None or ln.box[3] > top]
    checked = sorted({i for _, h in weak for i in h.lines})
    cands = unclaimed + [lines[i] for i in checked]
    if not cands and not heading:
        return set()
    reading = dict(zip((ln.index for ln in cands), read_latin(cands) if cands else [], strict=True))
    found: set[str] = set()

    def claim(lab: Label, among: list[Line]) -> None:
        for lang, (score, ln) in _held_in_latin(lab, latin[lab.key], among, reading).items():
            if ln.index in used:
                continue
            used.add(ln.index)
            hits.setdefault(lab.key, []).append(LabelHit(lab.key, lang, score, (ln.index,), ln.box))
            found.add(lab.key)

    for key, h in weak:
        own = max((_latin_score(latin[key], reading[i]) for i in h.lines), default=0.0)
        other = any(
            _latin_score(latin[k], reading[i]) > 0.0 for k in latin if k != key for i in h.lines
        )
        if own > 0.0 and not other:
            hits[key] = [replace(x, score=max(x.score, own)) if x is h else x for x in hits[key]]
            found.add(key)
        elif own == 0.0 and (other or not _where_order_puts_it(form, key, h, lines, hits, used)):
            # another label's line, or another row's: freed, to be found as its own
            hits[key] = [x for x in hits[key] if x is not h]
            if not hits[key]:
                del hits[key]
            used.difference_update(h.lines)
            unclaimed += [lines[i] for i in h.lines]
    for lab in missing:
        claim(lab, unclaimed)
    if heading and any(lab.key not in hits for lab in missing):
        reading.update(zip((ln.index for ln in heading), read_latin(heading), strict=True))
        for lab in missing:
            if lab.key not in hits:
                claim(lab, heading)
    labels = {lab.key: lab for lab in form.labels}
    for key, h in contested:
        held = [
            (lang, got)
            for lang, got in _held_in_latin(labels[key], latin[key], unclaimed, reading).items()
            if got[1].index not in used and not _same_row(got[1], h)
        ]
        if len(held) != 1:
            continue
        # the line it was found on is read in Latin too: when it holds the name as well (a
        # row printed in both languages), it stays
        if any(_latin_score(latin[key], t) > 0.0 for t in read_latin([lines[i] for i in h.lines])):
            continue
        lang, (score, ln) = held[0]
        hits[key] = [x for x in hits[key] if x is not h] + [
            LabelHit(key, lang, score, (ln.index,), ln.box)
        ]
        used.difference_update(h.lines)
        used.add(ln.index)
        found.add(key)
    return found


#: A label with a Latin word that the Cyrillic models matched this well or better, but
#: below this, while another label of the form is missing, is looked for in the unclaimed
#: lines' Latin reading too (:func:`find_latin_labels`).
LATIN_CONTESTED = 0.92


def _held_in_latin(
    lab: Label, words: list[str], lines: list[Line], reading: dict[int, str]
) -> dict[str, tuple[float, Line]]:
    """Per language, the one line of ``lines`` whose Latin reading holds ``words`` (the
    label ``lab``'s Latin words): its language is the one whose other words the line
    matches best. A language two lines hold is left out (a page prints a label once a
    language)."""
    by_lang: dict[str, list[tuple[float, Line]]] = {}
    for ln in lines:
        score = _latin_score(words, reading[ln.index])
        if score == 0.0:
            continue
        text = _label_text(ln)
        rest = {
            lang: _words_match(fold_label(_without_latin(label)), text)
            for lang, label in (("ru", lab.ru), ("kk", lab.kk))
        }
        by_lang.setdefault(max(rest, key=lambda k: rest[k]), []).append((score, ln))
    return {lang: got[0] for lang, got in by_lang.items() if len(got) == 1}


def _same_row(ln: Line, hit: LabelHit) -> bool:
    """True when ``ln`` stands right above or below ``hit``'s lines (less than a line's
    height off) or level with them: the row's label in its other language."""
    height = ln.box[3] - ln.box[1]
    return ln.box[1] < hit.box[3] + height and hit.box[1] < ln.box[3] + height


def _latin_score(words: list[str], latin: str) -> float:
    """How surely a Latin reading holds every one of ``words``: 1 less the share of
    letters of the worst one that differ, or 0 when one is not there within a fifth of its
    letters."""
    tokens = re.sub(r"[^a-z]+", " ", latin.lower()).split()
    misses = [min((_edits_within(w, t) for t in tokens), default=len(w)) for w in words]
    if any(m > len(w) // 5 for m, w in zip(misses, words, strict=True)):
        return 0.0
    return 1.0 - max(m / len(w) for m, w in zip(misses, words, strict=True))


def _words_match(words: str, text: str) -> float:
    """How well each of ``words`` is matched by a word of ``text``, on average."""
    tokens = text.split()
    if not words.split() or not tokens:
        return 0.0
    return sum(
        max(SequenceMatcher(None, w, t, autojunk=False).ratio() for t in tokens)
        for w in words.split()
    ) / len(words.split())


def _without_latin(label: str) -> str:
    return re.sub(r"[A-Za-z]{4,}", " ", label)


def _edits_within(word: str, token: str) -> int:
    """Fewest edits turning ``word`` into a piece of ``token`` ("respublica" in
    "terespublicas": 0), or more than a fifth of ``word`` when there is none so close."""
    limit = len(word) // 5
    best = limit + 1
    for n in range(len(word) - limit, len(word) + limit + 1):
        for i in range(0, len(token) - n + 1):
            best = min(best, _lev(word, token[i : i + n], limit))
            if best == 0:
                return 0
    return best


def _label_like(text: str) -> bool:
    tokens = text.split()
    letters = sum(c.isalpha() for c in text)
    return letters >= 6 and 2 * sum(_number_word(t) for t in tokens) < len(tokens)


def find_words_runs(lines: list[Line]) -> list[WordsRun]:
    """Runs of consecutive lines, each right under the one before, that parse as a
    number in words."""
    runs: list[WordsRun] = []
    i = 0
    while i < len(lines):
        best: tuple[int, str, int] | None = None
        text = ""
        for j in range(i, min(i + 4, len(lines))):
            if j > i and not _touching(lines[j - 1], lines[j]):
                break
            text = f"{text} {fold(lines[j].text)}".strip()
            value = parse_number_words(text)
            if value is not None:
                best = (j, text, value)
        if best is None:
            tail = _words_tail(lines[i])
            if tail is not None:
                nxt = lines[i + 1] if i + 1 < len(lines) else None
                runs.append(_extend(tail, nxt) if nxt is not None else tail)
            i += 1
            continue
        j, text, value = best
        span = lines[i : j + 1]
        # a figure Tesseract put on the same line ("663 шестьдесят"), or on a line of its
        # own just above ("1%" for a handwritten 18 over "(он сегіз)"), is not part of the
        # run: its box must not cover (and so hide) the figure
        ws = [w for ln in span for w in ln.words if _wordlike(w.text)] or [
            w for ln in span for w in ln.words
        ]
        runs.append(
            WordsRun(
                tuple(ln.index for ln in span),
                " ".join(w.text for w in ws),
                None if _cut_off(span, lines) else value,
                (
                    min(w.box[0] for w in ws),
                    min(w.box[1] for w in ws),
                    max(w.box[0] + w.box[2] for w in ws),
                    max(w.box[1] + w.box[3] for w in ws),
                ),
            )
        )
        i = j + 1
    return runs


def _mostly_digits(text: str) -> bool:
    return sum(c.isdigit() for c in text) * 2 > len(text)


def _wordlike(text: str) -> bool:
    """A word of a number in words, not a figure read as text ("663", "1%", "8!")."""
    return not _mostly_digits(text) and any(c.isalpha() for c in text)


def _touching(upper: Line, lower: Line) -> bool:
    """True when ``lower`` is the next line of text under ``upper`` in the same column.

    Only the words of each line that lie over or under the other line count: Tesseract
    may put a tall figure of another column on the same line ("34 восемь" under
    "тридцать"), which would make the lines seem to overlap."""
    uw = [w for w in upper.words if _x_overlap(w.box, lower.box)]
    lw = [w for w in lower.words if _x_overlap(w.box, upper.box)]
    if not uw or not lw:
        return False
    hs = sorted(w.box[3] for w in uw)
    h = hs[len(hs) // 2]
    gap = min(w.box[1] for w in lw) - max(w.box[1] + w.box[3] for w in uw)
    return -0.3 * h <= gap < 0.9 * h


def _x_overlap(box: tuple[int, int, int, int], line_box: tuple[int, int, int, int]) -> bool:
    """True when a word box (x, y, w, h) and a line box (x0, y0, x1, y1) share columns."""
    return min(box[0] + box[2], line_box[2]) - max(box[0], line_box[0]) > 0


def _cut_off(span: list[Line], lines: list[Line]) -> bool:
    """True when the number in words read on ``span`` is probably a piece of a longer one:
    a line right above or below it, left out of it, holds a number word too ("четыре"
    under an unparsable "однатысяча дДевятыьсот даадчать" is not 4). Such a run is kept
    (its text is explained) but gives no value: a piece agreeing with digits read short
    would accept a wrong figure."""
    ids = {ln.index for ln in span}
    for ln in lines:
        if ln.index in ids or not (_touching(ln, span[0]) or _touching(span[-1], ln)):
            continue
        if any(_numberish(t) for t in fold(ln.text).split()):
            return True
    return False


def _numberish(token: str) -> bool:
    """True when ``token`` (folded) is a number word, or one with a letter too many at
    either end ("есто" for "сто": the start of a number Tesseract glued to a label)."""
    if len(token) < 3:
        return False
    return any(_number_word(t) for t in (token, token[1:], token[:-1]))


@lru_cache(maxsize=4096)
def _number_word(token: str) -> bool:
    """True when ``token`` alone reads as a number in words (cached: pages repeat words)."""
    return parse_number_words(token) is not None


def _words_tail(line: Line) -> WordsRun | None:
    """The words after the last token with a digit, if they spell a number (a table row
    Tesseract read as one line: label, figure, figure in words)."""
    last = max(
        (i for i, w in enumerate(line.words) if sum(c.isdigit() for c in w.text) * 2 > len(w.text)),
        default=None,
    )
    if last is None or last + 1 >= len(line.words):
        return None
    tail = line.words[last + 1 :]
    text = " ".join(w.text for w in tail)
    value = parse_number_words(fold(text))
    if value is None:
        return None
    box = (
        min(w.box[0] for w in tail),
        min(w.box[1] for w in tail),
        max(w.box[0] + w.box[2] for w in tail),
        max(w.box[1] + w.box[3] for w in tail),
    )
    return WordsRun((), text, value, box)


def _extend(run: WordsRun, nxt: Line) -> WordsRun:
    """``run`` continued by the words of the next line that lie below it (a wrapped
    cell that Tesseract read together with the next line of the label column)."""
    h = run.box[3] - run.box[1]
    if not 0 <= nxt.box[1] - run.box[3] < 1.5 * h:
        return run
    below = [w for w in nxt.words if w.box[0] >= run.box[0] - h]
    if not below:
        return run
    text = f"{run.text} {' '.join(w.text for w in below)}"
    value = parse_number_words(fold(text))
    if value is None:
        return run
    x1 = max(run.box[2], *(w.box[0] + w.box[2] for w in below))
    y1 = max(run.box[3], *(w.box[1] + w.box[3] for w in below))
    return WordsRun(run.lines, text, value, (run.box[0], run.box[1], x1, y1))


def title_words(title: str) -> set[str]:
    """Folded words of four letters or more of a title."""
    return {w for w in fold(title).split() if len(w) >= 4}


def words_found(words: set[str], lines: list[Line], head: int = 16) -> float:
    """Share of ``words`` found (allowing OCR slips) among the first ``head`` lines."""
    if not words:
        return 0.0
    page = {
        w for ln in sorted(lines, key=lambda ln: ln.box[1])[:head] for w in fold(ln.text).split()
    }
    found = 0
    for w in words:
        limit = 1 if len(w) < 8 else 2
        if w in page or any(
            abs(len(w) - len(p)) <= limit and _lev(w, p, limit) <= limit for p in page
        ):
            found += 1
    return found / len(words)


def _lev(a: str, b: str, limit: int) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]
