"""The newer sheet layouts of :mod:`ocr.synth.render`, drawn with its :class:`Pen`.

- ``stacked``: each figure right-aligned on a line of its own, its number in words under it
  (right-aligned too), and the label on a dotted leader line lower down;
- ``two-column``: a table with two label | figure pairs side by side per row, filled column by
  column or row by row;
- ``boxes``: each figure written in a row of printed digit boxes, one digit per box.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

from ocr.forms import Label
from ocr.numwords import to_words_kk, to_words_ru
from ocr.synth.hands import MnistHand, compose, press

NEW_LAYOUTS = ("stacked", "two-column", "boxes")
BLACK = (0, 0, 0)


class HandLike(Protocol):
    """A hand that writes text on the page (``render._Hand``, :class:`MnistHand`)."""

    size: int
    rng: random.Random

    def draw(self, page: Image.Image, x: int, y_mid: int, text: str) -> tuple[int, int, int, int]:
        """Write ``text`` from x, centred on y_mid; return its box."""
        ...


@dataclass
class Pen:
    """What a layout draws with: the page, fonts, hands and the sheet's figures."""

    page: Image.Image
    draw: ImageDraw.ImageDraw
    figures: dict[str, int]
    lang: str
    words: bool
    typed: str
    """Path of the typed font."""
    f_label: ImageFont.FreeTypeFont
    f_title: ImageFont.FreeTypeFont
    f_small: ImageFont.FreeTypeFont
    label_size: int
    margin: int
    page_w: int
    hand: HandLike | None
    """The hand writing the figures; None: typed."""
    hand_words: HandLike | None
    """The hand writing number words (Russian only), if any."""
    wrap: Callable[[ImageDraw.ImageDraw, str, ImageFont.FreeTypeFont, int], list[str]]
    figure: Callable[[int, int, str, int], None]
    """Write the figure of a key: (x, y_mid, key, typed size)."""
    words_left: Callable[[int, int, int, str], int]
    """Write a key's figure in words from x in a width: (x, y_top, width, key) -> height."""
    rows: dict[str, int] = field(default_factory=dict)
    """Each key's label: the y of its top on the page."""

    @property
    def lh(self) -> int:
        """Line height of labels."""
        return int(self.label_size * 1.3)

    def text(self, lab: Label) -> str:
        """The label in the sheet's language."""
        return lab.ru if self.lang == "ru" else lab.kk

    def number_words(self, key: str) -> str:
        """A key's figure in words, in the sheet's language."""
        v = self.figures[key]
        return to_words_ru(v) if self.lang == "ru" else to_words_kk(v)

    def _font(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.typed, size)

    def figure_right(self, right: int, y_mid: int, key: str, size: int) -> None:
        """Write a key's figure so that it ends at ``right``."""
        text = str(self.figures[key])
        if self.hand is None:
            self.draw.text((right, y_mid), text, font=self._font(size), fill=BLACK, anchor="rm")
        elif isinstance(self.hand, MnistHand):
            fig = compose(text, int(self.hand.size * 0.8), self.hand.rng, self.hand.writer)
            self.hand.sources.extend(fig.sources)
            press(self.page, fig, right - fig.alpha.shape[1], y_mid, self.hand.color)
        else:  # a font's hand: about 0.6 of its size a digit
            self.hand.draw(self.page, right - int(len(text) * self.hand.size * 0.6), y_mid, text)

    def digit_in_box(self, cx: int, y_mid: int, digit: str, box_h: int) -> None:
        """Write one digit centred on (cx, y_mid) in a box ``box_h`` tall."""
        if self.hand is None:
            f = self._font(int(box_h * 0.62))
            self.draw.text((cx, y_mid), digit, font=f, fill=BLACK, anchor="mm")
        elif isinstance(self.hand, MnistHand):
            fig = compose(digit, int(box_h * 0.6), self.hand.rng, self.hand.writer)
            self.hand.sources.extend(fig.sources)
            press(self.page, fig, cx - fig.alpha.shape[1] // 2, y_mid, self.hand.color)
        else:
            # a font's hand pastes its glyph 8 px in; a digit is about 0.45 of its size wide
            self.hand.draw(self.page, cx - int(self.hand.size * 0.22) - 8, y_mid, digit)

    def words_right(self, right: int, y_top: int, width: int, key: str) -> int:
        """Write a key's figure in words, each line ending at ``right``; return the height."""
        text = self.number_words(key)
        hw = self.hand_words if self.lang == "ru" else None
        if hw is not None:
            f = ImageFont.truetype(getattr(hw, "path", self.typed), hw.size)
            lines = self.wrap(self.draw, text, f, width)
            for i, line in enumerate(lines):
                w = int(self.draw.textlength(line, font=f))
                hw.draw(self.page, right - w, y_top + 14 + i * 30, line)
            return len(lines) * 30 + 6
        lines = self.wrap(self.draw, f"({text})", self.f_small, width)
        step = int(self.label_size * 1.15)
        for i, line in enumerate(lines):
            at = (right, y_top + i * step)
            self.draw.text(at, line, font=self.f_small, fill=BLACK, anchor="ra")
        return len(lines) * step

    def heading(self, y: int, lab: Label, started: set[str]) -> int:
        """The heading over the contestants, before the first of them; return the new y."""
        if lab.group == "fields" or lab.group in started:
            return y
        started.add(lab.group)
        heading = "Число голосов, поданных за:" if self.lang == "ru" else "Берілген дауыстар саны:"
        self.draw.text((self.margin, y), heading, font=self.f_title, fill=BLACK)
        return y + self.lh + 6

    def leader(self, x_from: int, x_to: int, y: int) -> None:
        """A dotted leader line on the text line at y, from x_from to x_to."""
        x = x_from
        while x < x_to:
            self.draw.text((x, y), ".", font=self.f_label, fill=BLACK)
            x += 9


def stacked(pen: Pen, labels: tuple[Label, ...], y: int) -> int:
    """Figure right-aligned above its words, the label on a leader line below; the new y."""
    right = pen.page_w - pen.margin
    started: set[str] = set()
    fig_h = 46 if pen.hand is not None else pen.lh + 8
    for n, lab in enumerate(labels, 1):
        y = pen.heading(y, lab, started)
        pen.figure_right(right - 10, y + fig_h // 2, lab.key, pen.label_size + 6)
        y += fig_h
        if pen.words:
            y += pen.words_right(right - 10, y, 620, lab.key) + 2
        lines = pen.wrap(pen.draw, f"{n}. {pen.text(lab)}", pen.f_label, right - pen.margin - 200)
        pen.rows[lab.key] = y
        for i, line in enumerate(lines):
            pen.draw.text((pen.margin, y + i * pen.lh), line, font=pen.f_label, fill=BLACK)
        last_w = int(pen.draw.textlength(lines[-1], font=pen.f_label))
        pen.leader(pen.margin + last_w + 10, right, y + (len(lines) - 1) * pen.lh)
        y += len(lines) * pen.lh + 14
    return y


def two_column(pen: Pen, labels: tuple[Label, ...], y: int, fill: str) -> int:
    """Two label | figure pairs side by side per row (``fill``: ``columns`` or ``rows``)."""
    left, right = pen.margin, pen.page_w - pen.margin
    half = (right - left) // 2
    fig_w = 150
    n_rows = (len(labels) + 1) // 2
    cells: list[list[tuple[int, Label] | None]] = [[None, None] for _ in range(n_rows)]
    for i, lab in enumerate(labels):
        r, c = (i % n_rows, i // n_rows) if fill == "columns" else (i // 2, i % 2)
        cells[r][c] = (i + 1, lab)
    xs = [left, left + half - fig_w, left + half, right - fig_w, right]
    y0 = y
    pen.draw.line([(left, y), (right, y)], fill=BLACK, width=2)
    head = ("Наименование", "Цифрами") if pen.lang == "ru" else ("Атауы", "Санмен")
    for c in range(2):
        pen.draw.text((xs[2 * c] + 6, y + 6), head[0], font=pen.f_title, fill=BLACK)
        pen.draw.text((xs[2 * c + 1] + 6, y + 6), head[1], font=pen.f_title, fill=BLACK)
    y += pen.lh + 12
    pen.draw.line([(left, y), (right, y)], fill=BLACK, width=2)
    for row in cells:
        heights = []
        y_row = y + 8
        for c, cell in enumerate(row):
            if cell is None:
                continue
            n, lab = cell
            x = xs[2 * c] + 6
            width = xs[2 * c + 1] - xs[2 * c] - 12
            lines = pen.wrap(pen.draw, f"{n}. {pen.text(lab)}", pen.f_small, width)
            pen.rows[lab.key] = y_row
            step = int(pen.label_size * 1.15)
            for i, line in enumerate(lines):
                pen.draw.text((x, y_row + i * step), line, font=pen.f_small, fill=BLACK)
            h = len(lines) * step
            if pen.words:
                h += pen.words_left(x + 10, y_row + h + 4, width - 10, lab.key) + 4
            heights.append(h)
        row_h = max([*heights, 44]) + 16
        for c, cell in enumerate(row):
            if cell is not None:
                pen.figure(xs[2 * c + 1] + 16, y + row_h // 2, cell[1].key, pen.label_size + 6)
        y += row_h
        pen.draw.line([(left, y), (right, y)], fill=BLACK, width=2)
    for x in xs:
        pen.draw.line([(x, y0), (x, y)], fill=BLACK, width=3 if x == xs[2] else 2)
    return y


def boxes(pen: Pen, labels: tuple[Label, ...], y: int) -> int:
    """Each figure in a row of printed digit boxes, one digit per box, right-aligned."""
    right = pen.page_w - pen.margin
    n_boxes = max(4, max(len(str(pen.figures[lab.key])) for lab in labels) + 1)
    box_w = 46
    box_h = max(50, int(pen.hand.size * 0.8) + 20) if pen.hand is not None else 48
    box_x = right - n_boxes * box_w
    started: set[str] = set()
    for n, lab in enumerate(labels, 1):
        y = pen.heading(y, lab, started)
        lines = pen.wrap(pen.draw, f"{n}. {pen.text(lab)}", pen.f_label, box_x - pen.margin - 40)
        pen.rows[lab.key] = y
        for i, line in enumerate(lines):
            pen.draw.text((pen.margin, y + i * pen.lh), line, font=pen.f_label, fill=BLACK)
        h = len(lines) * pen.lh
        if pen.words:
            h += pen.words_left(pen.margin + 28, y + h, box_x - pen.margin - 70, lab.key)
        top = y + max(0, (min(h, 2 * pen.lh) - box_h) // 2)
        for b in range(n_boxes):
            x = box_x + b * box_w
            pen.draw.rectangle([x, top, x + box_w, top + box_h], outline=BLACK, width=2)
        digits = str(pen.figures[lab.key])
        for j, ch in enumerate(digits):
            b = n_boxes - len(digits) + j
            pen.digit_in_box(box_x + b * box_w + box_w // 2, top + box_h // 2, ch, box_h)
        y += max(h, top - y + box_h) + 18
    return y
