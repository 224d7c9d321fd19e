"""Find the form's printed labels on a page of Tesseract words, with no layout coordinates.

Words are grouped into text lines; each label (Russian and Kazakh) is matched against
single lines and runs of up to three consecutive lines by a fuzzy local alignment
tolerant of OCR noise, line breaks, numbering and dotted leaders; a one-to-one
assignment keeps two labels from claiming the same line. Lines that spell a number in
words are found the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ocr.engine import Word
from ocr.forms import Form
from ocr.numwords import parse_number_words

_FOLD = str.maketrans(
    {
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
        "ё": "е",
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


def fold(text: str) -> str:
    """Lowercase letters only, Kazakh and Latin look-alikes folded to Russian, single spaces."""
    t = text.lower().translate(_FOLD)
    t = re.sub(r"[^а-яa-z ]+", " ", t)
    return " ".join(t.split())


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


def group_lines(words: tuple[Word, ...]) -> list[Line]:
    """Tesseract words grouped by (block, paragraph, line), in reading order."""
    by: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        by.setdefault(w.line, []).append(w)
    out = []
    for i, (key, ws) in enumerate(sorted(by.items())):
        ws.sort(key=lambda w: w.box[0])
        x0 = min(w.box[0] for w in ws)
        y0 = min(w.box[1] for w in ws)
        x1 = max(w.box[0] + w.box[2] for w in ws)
        y1 = max(w.box[1] + w.box[3] for w in ws)
        out.append(Line(i, tuple(ws), " ".join(w.text for w in ws), (x0, y0, x1, y1), key[:2]))
    return out


def line_height(lines: list[Line]) -> float:
    """Median height of words of three or more letters (about the font size)."""
    hs = sorted(w.box[3] for ln in lines for w in ln.words if sum(c.isalpha() for c in w.text) >= 3)
    return float(hs[len(hs) // 2]) if hs else 24.0


def _local_score(label: str, text: str) -> tuple[float, float]:
    """(score, coverage): alignment of ``label`` with its best span of ``text``, and the
    share of ``text`` that span covers."""
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


def _strip_number(text: str) -> str:
    return re.sub(r"^\s*\d+\s*[.,;:)]?\s*", "", text)


def _box(lines: list[Line]) -> tuple[int, int, int, int]:
    return (
        min(ln.box[0] for ln in lines),
        min(ln.box[1] for ln in lines),
        max(ln.box[2] for ln in lines),
        max(ln.box[3] for ln in lines),
    )


def _spans(lines: list[Line], max_len: int = 3) -> list[list[Line]]:
    out = []
    for i in range(len(lines)):
        run = [lines[i]]
        out.append(list(run))
        for j in range(i + 1, min(i + max_len, len(lines))):
            prev, nxt = run[-1], lines[j]
            lh = prev.box[3] - prev.box[1]
            if nxt.block != prev.block and not (0 <= nxt.box[1] - prev.box[3] < 1.2 * lh):
                break
            run.append(nxt)
            out.append(list(run))
    return out


def find_labels(
    form: Form, lines: list[Line], threshold: float = 0.72
) -> dict[str, list[LabelHit]]:
    """For each figure key, the lines its Russian and/or Kazakh label was found on."""
    folded = [fold(_strip_number(ln.text)) for ln in lines]
    cands = []
    for span in _spans(lines):
        text = " ".join(folded[ln.index] for ln in span)
        if len(text) >= 3:
            cands.append((span, text))
    scored = []
    for lab in form.labels:
        for lang, label in (("ru", lab.ru), ("kk", lab.kk)):
            flabel = fold(label)
            for span, text in cands:
                if abs(len(text) - len(flabel)) > max(len(flabel), 12) * 1.5:
                    continue
                sm = SequenceMatcher(None, flabel, text, autojunk=False)
                if sm.real_quick_ratio() < 0.4 * threshold:
                    continue
                score, cover = _local_score(flabel, text)
                need = threshold if len(flabel) >= 15 else max(threshold, 0.85)
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
    return hits


def find_words_runs(lines: list[Line]) -> list[WordsRun]:
    """Runs of consecutive lines (same block) that parse as a number in words."""
    runs: list[WordsRun] = []
    i = 0
    while i < len(lines):
        best: tuple[int, str, int] | None = None
        text = ""
        for j in range(i, min(i + 4, len(lines))):
            if j > i:
                prev, cur = lines[j - 1], lines[j]
                gap = cur.box[1] - prev.box[3]
                if cur.block != prev.block or not -5 <= gap < 0.9 * (prev.box[3] - prev.box[1]):
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
        runs.append(
            WordsRun(
                tuple(ln.index for ln in span), " ".join(ln.text for ln in span), value, _box(span)
            )
        )
        i = j + 1
    return runs


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
