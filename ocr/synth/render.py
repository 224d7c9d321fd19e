"""Render a protocol sheet (clean, flat) in one of several layouts, typed or handwritten.

Layouts: ``table`` (columns: number, label, figure in digits, figure in words),
``leaders`` (label, dotted leader, figure at the right), ``bilingual`` (Kazakh label
above the Russian one, figure in a box at the right, words under the labels), and the
newer ``stacked``, ``two-column`` and ``boxes`` of :mod:`ocr.synth.layouts` (drawn only when
asked for: :data:`LAYOUTS_ALL`). Rows may be printed in another order than the form's
(``SheetSpec.order``); handwritten figures come from a font or from MNIST's real hands
(``SheetSpec.hand``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr.errors import MissingDependency
from ocr.forms import Form, Label
from ocr.numwords import to_words_kk, to_words_ru
from ocr.synth import fonts, layouts
from ocr.synth.hands import MnistHand, Split

#: The layouts a sample draws from unless told otherwise.
LAYOUTS = ("table", "leaders", "bilingual")
#: Every layout, the newer ones too.
LAYOUTS_ALL = LAYOUTS + layouts.NEW_LAYOUTS
#: Where handwritten figures come from: a handwriting font, or MNIST's real hands.
HANDS = ("font", "mnist")
SCRIPTS = ("typed", "handwritten")
#: Wordings of the precinct line under a protocol's title, as real Kazakh protocols print it
#: (``{n}``: the precinct's number). ``none``: no precinct line.
HEADERS = {
    "ru": "Избирательный участок № {n}",
    "ru-commission": "Участковая избирательная комиссия № {n}",
    "kk": "№ {n} сайлау учаскесі",
    "kk-station": "Сайлау учаскесі № {n}",
    "kk-commission": "№ {n} учаскелік сайлау комиссиясы",
    "en": "Precinct No. {n}",
    "none": "",
}
PAGE_W, PAGE_H = 1240, 1754  # A4 at 150 dpi
INK_BLUE = (25, 45, 130)


@dataclass(frozen=True)
class SheetSpec:
    """What to draw."""

    form: Form
    figures: dict[str, int]
    layout: str
    script: str
    lang: str  # "ru" or "kk": label language of the table and leaders layouts
    words: bool  # whether the figure is also written in words
    precinct: int | None = None
    """The precinct number printed under the title; None: a random one (the stream's own)."""
    header: str = "ru"
    """The wording of the precinct line (a key of ``HEADERS``)."""
    spaced: bool = False
    """Write the precinct number with a space between its digits ("№ 4 9 5")."""
    order: tuple[str, ...] | None = None
    """The keys in printed order; None: the form's order."""
    hand: str = "font"
    """Handwritten figures: ``font`` (a handwriting font) or ``mnist`` (real hands)."""
    hand_split: Split = "held_out"
    """With ``hand="mnist"``: whose digits write (``held_out``, or ``train`` for training)."""
    fill: str = "columns"
    """``two-column``: number the rows down each column (``columns``) or across (``rows``)."""


def printed_labels(spec: SheetSpec) -> tuple[Label, ...]:
    """The form's labels in the order the sheet prints them."""
    if spec.order is None:
        return spec.form.labels
    if sorted(spec.order) != sorted(spec.form.keys):
        raise ValueError("a printed order must name every figure of the form once")
    return tuple(spec.form.label(k) for k in spec.order)


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not cur:
            cur = trial
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


class _Hand:
    """Draws text as a ballpoint hand: per-glyph jitter in size, angle and baseline."""

    def __init__(self, rng: random.Random, font_path: str, size: int) -> None:
        self.rng = rng
        self.path = font_path
        self.size = size
        self.color = tuple(max(0, c + rng.randint(-15, 15)) for c in INK_BLUE)

    def fork(self, rng: random.Random) -> _Hand:
        """The same font and size, drawing from ``rng`` (and a colour of its own)."""
        return _Hand(rng, self.path, self.size)

    def draw(self, page: Image.Image, x: int, y_mid: int, text: str) -> tuple[int, int, int, int]:
        """Draw ``text`` starting at x, vertically centred on y_mid; return its box."""
        rng = self.rng
        x0 = x
        top, bottom = y_mid, y_mid
        for ch in text:
            if ch == " ":
                x += int(self.size * 0.35)
                continue
            size = int(self.size * rng.uniform(0.9, 1.1))
            font = _font(self.path, size)
            left, t, r, b = font.getbbox(ch)
            w, h = max(1, r - left), max(1, b - t)
            glyph = Image.new("L", (int(w) + 16, int(h) + 16), 0)
            ImageDraw.Draw(glyph).text((8 - left, 8 - t), ch, font=font, fill=255)
            if ch.isdigit():  # fonts differ in digit height: write them all about one size
                k = self.size * 0.8 / h
                glyph = glyph.resize((max(1, int(glyph.width * k)), max(1, int(glyph.height * k))))
                w = int(w * k)
            glyph = glyph.filter(ImageFilter.MaxFilter(3))  # a ballpoint line, not a hairline
            glyph = glyph.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, expand=True)
            gy = y_mid - glyph.height // 2 + rng.randint(-2, 2)
            page.paste(Image.new("RGB", glyph.size, self.color), (x, gy), glyph)
            top, bottom = min(top, gy), max(bottom, gy + glyph.height)
            gap = rng.uniform(0.1, 0.25) if ch.isdigit() else rng.uniform(-0.05, 0.03)
            x += int(w) + int(self.size * gap)
        return x0, top, x - x0, bottom - top


def render_sheet(spec: SheetSpec, rng: random.Random) -> Image.Image:
    """Draw the protocol described by ``spec`` on a white A4 page (RGB)."""
    page = Image.new("RGB", (PAGE_W, int(PAGE_H * 1.5)), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    typed = rng.choice(fonts.available(fonts.TYPED))
    bold = rng.choice(fonts.available(fonts.TYPED_BOLD))
    label_size = rng.randint(21, 24)
    f_label = _font(typed, label_size)
    f_title = _font(bold, label_size)
    f_small = _font(typed, label_size - 3)
    hand_fonts = fonts.available(fonts.HAND_TRAIN + fonts.HAND_HELD_OUT)
    if spec.hand not in HANDS:
        raise ValueError(f"hand must be one of {HANDS}, not {spec.hand!r}")
    if spec.script == "handwritten" and spec.hand == "font" and not hand_fonts:
        raise MissingDependency(f"no handwriting fonts installed; run: {fonts.INSTALL_HINT}")
    hand: _Hand | MnistHand | None = None
    if spec.script == "handwritten" and spec.hand == "mnist":
        hand = MnistHand(rng, rng.randint(34, 42), spec.hand_split)
    elif spec.script == "handwritten":
        hand = _Hand(rng, rng.choice(hand_fonts), rng.randint(34, 42))
    hand_words = (
        _Hand(rng, fonts.available(fonts.HAND_CYRILLIC)[0], 24)
        if spec.script == "handwritten" and fonts.available(fonts.HAND_CYRILLIC)
        else None
    )
    if isinstance(hand, MnistHand) and hand_words is not None:
        hand_words.color = hand.color  # one pen writes the figures and their words
    margin = 90
    y = 70
    title = (
        spec.form.title_ru
        if spec.lang == "ru" or spec.layout == "bilingual"
        else spec.form.title_kk
    )
    if spec.layout == "bilingual":
        for line in _wrap(draw, spec.form.title_kk, f_title, PAGE_W - 2 * margin):
            draw.text((margin, y), line, font=f_title, fill=(0, 0, 0))
            y += int(label_size * 1.3)
        y += 8
    for line in _wrap(draw, title, f_title, PAGE_W - 2 * margin):
        draw.text((margin, y), line, font=f_title, fill=(0, 0, 0))
        y += int(label_size * 1.3)
    y += 10
    drawn = rng.randint(1, 999)  # drawn always, so that the rest of the sheet stays the same
    precinct = spec.precinct if spec.precinct is not None else drawn
    precinct_box = _precinct_line(page, draw, spec, precinct, (margin, y), f_label, hand)
    y += int(label_size * 2.0)

    def figure_text(key: str) -> str:
        return str(spec.figures[key])

    def draw_figure(x: int, y_mid: int, key: str, size: int) -> None:
        if hand is not None:
            hand.draw(page, x, y_mid, figure_text(key))
        else:
            f = _font(typed, size)
            draw.text((x, y_mid), figure_text(key), font=f, fill=(0, 0, 0), anchor="lm")

    def draw_words(x: int, y_top: int, width: int, key: str) -> int:
        """Write the figure in words in [x, x+width]; return the height used."""
        words = (
            to_words_ru(spec.figures[key]) if spec.lang == "ru" else to_words_kk(spec.figures[key])
        )
        if hand_words is not None and spec.lang == "ru":
            lines = _wrap(draw, words, _font(hand_words.path, hand_words.size), width)
            for i, line in enumerate(lines):
                hand_words.draw(page, x, y_top + 14 + i * 30, line)
            return len(lines) * 30 + 6
        lines = _wrap(draw, words, f_small, width)
        for i, line in enumerate(lines):
            draw.text((x, y_top + i * int(label_size * 1.15)), line, font=f_small, fill=(0, 0, 0))
        return len(lines) * int(label_size * 1.15)

    lh = int(label_size * 1.3)
    labels = printed_labels(spec)
    groups_started: set[str] = set()
    rows: dict[str, int] = {}  # each key's label: the y of its top
    if spec.layout in layouts.NEW_LAYOUTS:
        pen = layouts.Pen(
            page, draw, spec.figures, spec.lang, spec.words, typed, f_label, f_title, f_small,
            label_size, margin, PAGE_W, hand, hand_words, _wrap, draw_figure, draw_words, rows,
        )  # fmt: skip
        if spec.layout == "stacked":
            y = layouts.stacked(pen, labels, y)
        elif spec.layout == "two-column":
            y = layouts.two_column(pen, labels, y, spec.fill)
        else:
            y = layouts.boxes(pen, labels, y)
    elif spec.layout == "table":
        col = [margin, margin + 55, margin + 600, margin + 800, PAGE_W - margin]
        y0 = y
        head = [
            "№",
            "Наименование" if spec.lang == "ru" else "Атауы",
            "Цифрами" if spec.lang == "ru" else "Санмен",
            "Прописью" if spec.lang == "ru" else "Жазбаша",
        ]
        for i, h in enumerate(head if spec.words else head[:3]):
            draw.text((col[i] + 6, y + 6), h, font=f_title, fill=(0, 0, 0))
        y += lh + 12
        draw.line([(col[0], y), (col[-1], y)], fill=(0, 0, 0), width=2)
        for n, lab in enumerate(labels, 1):
            text = lab.ru if spec.lang == "ru" else lab.kk
            lines = _wrap(draw, text, f_label, col[2] - col[1] - 12)
            words_h = 0
            y_row = y + 8
            rows[lab.key] = y_row
            for i, line in enumerate(lines):
                draw.text((col[1] + 6, y_row + i * lh), line, font=f_label, fill=(0, 0, 0))
            draw.text((col[0] + 6, y_row), str(n), font=f_label, fill=(0, 0, 0))
            if spec.words:
                words_h = draw_words(col[3] + 8, y_row, col[4] - col[3] - 14, lab.key)
            row_h = max(len(lines) * lh, words_h, 44) + 16
            draw_figure(col[2] + 14, y + row_h // 2, lab.key, label_size + 8)
            y += row_h
            draw.line([(col[0], y), (col[-1], y)], fill=(0, 0, 0), width=2)
        for x in col if spec.words else col[:3] + [col[-1]]:
            draw.line([(x, y0), (x, y)], fill=(0, 0, 0), width=2)
        if not spec.words:
            pass
    elif spec.layout == "leaders":
        right = PAGE_W - margin
        for n, lab in enumerate(labels, 1):
            if lab.group != "fields" and lab.group not in groups_started:
                groups_started.add(lab.group)
                heading = (
                    "Число голосов, поданных за:"
                    if spec.lang == "ru"
                    else "Берілген дауыстар саны:"
                )
                draw.text((margin, y), heading, font=f_title, fill=(0, 0, 0))
                y += lh + 6
            text = f"{n}. " + (lab.ru if spec.lang == "ru" else lab.kk)
            lines = _wrap(draw, text, f_label, right - margin - 260)
            rows[lab.key] = y
            for i, line in enumerate(lines):
                draw.text((margin, y + i * lh), line, font=f_label, fill=(0, 0, 0))
            last_w = int(draw.textlength(lines[-1], font=f_label))
            y_last = y + (len(lines) - 1) * lh
            fig_x = right - 170
            dots_from = margin + last_w + 10
            x = dots_from
            while x < fig_x - 20:
                draw.text((x, y_last), ".", font=f_label, fill=(0, 0, 0))
                x += 9
            draw_figure(fig_x, y_last + label_size // 2 + 2, lab.key, label_size + 6)
            y += len(lines) * lh + (22 if hand else 14)
    else:  # bilingual
        right = PAGE_W - margin
        box_x = right - 210
        for n, lab in enumerate(labels, 1):
            kk = _wrap(draw, f"{n}. {lab.kk}", f_label, box_x - margin - 30)
            ru = _wrap(draw, lab.ru, f_small, box_x - margin - 30)
            y_start = y
            rows[lab.key] = y
            for line in kk:
                draw.text((margin, y), line, font=f_label, fill=(0, 0, 0))
                y += lh
            for line in ru:
                draw.text((margin + 28, y), line, font=f_small, fill=(60, 60, 60))
                y += int(lh * 0.9)
            box_h = max(y - y_start, 52)
            draw.rectangle([box_x, y_start - 4, right, y_start + box_h], outline=(0, 0, 0), width=2)
            draw_figure(box_x + 18, y_start + box_h // 2, lab.key, label_size + 8)
            if spec.words:
                y += 4
                y += draw_words(margin + 28, y, box_x - margin - 40, lab.key)
            y += 18
    y += 30
    for sig in ("Председатель комиссии ____________", "Секретарь комиссии ____________"):
        draw.text((margin, y), sig, font=f_label, fill=(0, 0, 0))
        y += lh + 10
    if y + 60 <= PAGE_H:
        out = page.crop((0, 0, PAGE_W, PAGE_H))
    else:  # too long for A4: shrink the content to fit, keeping the A4 proportions
        height = y + 60
        width = int(height * PAGE_W / PAGE_H)
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        canvas.paste(page.crop((0, 0, PAGE_W, height)), ((width - PAGE_W) // 2, 0))
        out = canvas.resize((PAGE_W, PAGE_H), Image.Resampling.LANCZOS)
    out.info["hand_font"] = hand.path if isinstance(hand, _Hand) else None
    out.info["hand"] = spec.hand if hand is not None else None
    out.info["hand_sources"] = list(hand.sources) if isinstance(hand, MnistHand) else None
    out.info["order"] = [lab.key for lab in labels]
    # each label's top on the final page (a page too long for A4 was shrunk to fit)
    shrink = PAGE_H / (y + 60) if y + 60 > PAGE_H else 1.0
    out.info["rows"] = {key: int(v * shrink) for key, v in rows.items()}
    out.info["precinct"] = precinct if spec.header != "none" else None
    # where the number is on the page (x, y, w, h), to damage it on purpose in tests
    k = PAGE_W / page.width if y + 60 > PAGE_H else 1.0
    out.info["precinct_box"] = tuple(int(v * k) for v in precinct_box)
    return out


def _precinct_line(
    page: Image.Image,
    draw: ImageDraw.ImageDraw,
    spec: SheetSpec,
    precinct: int,
    at: tuple[int, int],
    font: ImageFont.FreeTypeFont,
    hand: _Hand | MnistHand | None,
) -> tuple[int, int, int, int]:
    """Draw the precinct line at ``at`` (top left); return the box (x, y, w, h) of its number.

    On a handwritten sheet given its precinct, the number is written in by hand on the
    printed line (as on a blank form), with a hand of its own random stream, so that the
    rest of the sheet is drawn as without it."""
    template = HEADERS[spec.header]
    if not template:
        return (0, 0, 0, 0)
    number = " ".join(str(precinct)) if spec.spaced else str(precinct)
    before, after = template.split("{n}")
    x, y = at
    if hand is None or spec.precinct is None:  # typed: the line in one piece
        draw.text((x, y), before + number + after, font=font, fill=(0, 0, 0))
        left, top, right, bottom = draw.textbbox(
            (x + draw.textlength(before, font=font), y), number, font=font
        )
        return (int(left), int(top), int(right - left), int(bottom - top))
    draw.text((x, y), before, font=font, fill=(0, 0, 0))
    x += int(draw.textlength(before, font=font))
    own = hand.fork(random.Random(f"precinct:{precinct}"))
    box = own.draw(page, x + 4, y + int(font.size) // 2 + 2, number)
    draw.text((box[0] + box[2] + 10, y), after.lstrip(), font=font, fill=(0, 0, 0))
    return box
