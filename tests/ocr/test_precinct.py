"""The precinct number printed on a protocol: read in Russian and Kazakh headers, or "not
read" (never guessed)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import PrecinctReason, format_table, read_protocol
from ocr.engine import Word
from ocr.layout import Line, group_lines
from ocr.precinct import find_numbers, number_ink
from ocr.synth import make_figures, make_sample
from ocr.synth.fonts import TYPED
from ocr.synth.photo import photograph
from ocr.synth.render import SheetSpec, render_sheet


def _line(*tokens: str, gap: int = 12, y: int = 100) -> Line:
    """One text line of Tesseract words, 14 px per character, 12 px apart, ``gap`` px
    before a token without letters (text words wider apart stand in two columns)."""
    words, x = [], 50
    for t in tokens:
        x += (12 if any(c.isalpha() for c in t) else gap) if words else 0
        words.append(Word(t, 95.0, (x, y, 14 * len(t), 24), (1, 1, 1)))
        x += 14 * len(t)
    (line,) = group_lines(tuple(words))
    return line


def _numbers(*tokens: str, gap: int = 12) -> list[str]:
    return [f.page_digits for f in find_numbers([_line(*tokens, gap=gap)], 20.0)]


@pytest.mark.parametrize(
    "tokens, digits",
    [
        (("Избирательный", "участок", "№", "495"), "495"),
        (("Избирательный", "участок", "Ме", "495"), "495"),  # "№" as Tesseract reads it
        (("Участковая", "избирательная", "комиссия", "Х%", "63"), "63"),
        (("№", "495", "сайлау", "учаскесі"), "495"),
        (("Сайлау", "учаскесі", "Ке", "1308"), "1308"),
        (("Мо", "63", "учаскелік", "сайлау", "комиссиясы"), "63"),
        (("Ргесіпсе", "Мо", "45"), "45"),  # "Precinct No. 45" read in Kazakh
        (("Избирательный", "участок", "№", "4", "95"), "495"),  # split by a space
        (("Избирательный", "иҙбирательная", "участок", "№", "12"), "12"),
        (("Участковая", "иҙбирательная", "комиссия", "М", "897"), "897"),  # one letter misread
        (("Избирательный", "участок)»", "62"), "62"),  # the sign run into the word
        (("Сайлау", "учаскесі", "1646"), "1646"),
    ],
)
def test_the_precinct_number_is_found_by_its_words(tokens, digits) -> None:
    assert _numbers(*tokens) == [digits]


@pytest.mark.parametrize(
    "tokens",
    [
        # a figure at the end of a label naming the precinct commission: no sign before it
        ("полученных", "участковой", "избирательной", "комиссией", "571"),
        ("на", "избирательном", "участке", "1840"),
        ("Протокол", "участковой", "избирательной", "комиссии", "19", "марта"),  # a date
        ("избирательный", "округ", "№", "5"),  # a district, not a precinct
        ("Экземпляр", "№", "1"),
        ("2", "Учаскелік", "сайлау", "комиссиясы", "алған", "бюллетеньдер", "571"),
        ("участок", "№", "0"),  # no precinct 0
        ("участок", "№", "123456"),  # too long to be one
    ],
)
def test_numbers_not_named_as_the_precincts_are_not_taken(tokens) -> None:
    assert _numbers(*tokens) == []


def test_digits_far_apart_are_not_one_number() -> None:
    assert _numbers("Избирательный", "участок", "№", "4", "95", gap=80) == ["4"]


def _drawn(text: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """An ink mask (ink = 255) of ``text`` and the box (x, y, w, h) of each character."""
    font = ImageFont.truetype(TYPED[0], 30)
    img = Image.new("L", (600, 120), 0)
    draw = ImageDraw.Draw(img)
    draw.text((40, 40), text, font=font, fill=255)
    boxes, x = [], 40.0
    for ch in text:
        left, top, right, bottom = draw.textbbox((x, 40), ch, font=font)
        boxes.append((int(left), int(top), int(right - left), int(bottom - top)))
        x += draw.textlength(ch, font=font)
    return (np.asarray(img) > 128).astype(np.uint8) * 255, boxes


def _token(text: str, boxes: list[tuple[int, int, int, int]]) -> Word:
    x0 = min(b[0] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    return Word(text, 95.0, (x0, 38, x1 - x0, 34), (1, 1, 1))


def test_a_digit_left_out_of_the_tokens_makes_the_number_unread() -> None:
    """ "№ 1 3 2 1" with the last "1" dropped by Tesseract: "132" would be wrong."""
    clean, boxes = _drawn("№ 1 3 2 1")
    sign, d1, d3, d2, d4 = (boxes[i] for i in (0, 2, 4, 6, 8))
    whole = _line_of([_token("Мо", [sign]), _token("13", [d1, d3]), _token("2", [d2])])
    (found,) = find_numbers([whole], 20.0)
    assert found.page_digits == "132"
    assert number_ink(clean, found, 20.0) is None
    # with every digit in the tokens, the number's ink is the four digits
    told = _line_of([_token("Мо", [sign]), _token("1321", [d1, d3, d2, d4])])
    (found,) = find_numbers([told], 20.0)
    got = number_ink(clean, found, 20.0)
    assert got is not None
    (x, _, w, _), _mask = got
    assert d1[0] <= x < d1[0] + d1[2] and d4[0] < x + w <= d4[0] + d4[2]


def test_a_digit_run_into_the_next_word_makes_the_number_unread() -> None:
    """ "№ 46сайлау" read "Мо 4 бсайлау": "4" would be wrong."""
    clean, boxes = _drawn("№ 46сайлау")
    line = _line_of(
        [_token("Мо", boxes[:1]), _token("4", boxes[2:3]), _token("бсайлау", boxes[3:])]
    )
    (found,) = find_numbers([line], 20.0)
    assert found.page_digits == "4" and number_ink(clean, found, 20.0) is None
    # a word after the number read from its first letter leaves the number whole
    clean, boxes = _drawn("№ 4 сайлау")
    line = _line_of([_token("Мо", boxes[:1]), _token("4", boxes[2:3]), _token("сайлау", boxes[4:])])
    (found,) = find_numbers([line], 20.0)
    assert number_ink(clean, found, 20.0) is not None


def _line_of(words: list[Word]) -> Line:
    first = Word("участок", 95.0, (0, 38, 30, 34), (1, 1, 1))
    (line,) = group_lines((first, *words))
    return line


# --- whole protocols, rendered by the project's generator -------------------------------------
def _sample(index: int, precinct: int, header: str):
    return make_sample(
        index,
        4242,
        tier="clean",
        script="typed",
        layout="table",
        adds_up=True,
        precinct=precinct,
        header=header,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "index, header, precinct",
    [
        (0, "ru", 495),  # "Избирательный участок № 495"
        (1, "kk", 495),  # "№ 495 сайлау учаскесі"
        (2, "kk-station", 63),  # "Сайлау учаскесі № 63"
        (2, "ru-commission", 63),  # "Участковая избирательная комиссия № 63"
    ],
)
def test_the_precinct_printed_in_russian_and_kazakh_headers_is_read(
    mazhilis, index, header, precinct
) -> None:
    s = _sample(index, precinct, header)
    assert s.truth["precinct"] == precinct
    reading = read_protocol(s.image, mazhilis)
    p = reading.precinct
    assert (p.value, p.reason) == (precinct, PrecinctReason.READ), p
    assert ("tesseract", str(precinct)) in [r[:2] for r in p.readers]
    assert sum(f.readers[3][1] is not None for f in reading.fields) >= 10  # its figures too
    assert p.crop and p.box != (0, 0, 0, 0) and p.confidence > 0.8
    full = reading.to_dict(reasons=True)
    assert full["precinct_on_sheet"] == precinct
    assert full["precinct_reading"]["status"] == "read"
    assert "precinct_on_sheet" not in reading.to_dict()  # the JSON stays as it is
    assert f"precinct on the sheet: {precinct}" in format_table(reading)


def _smudged(index: int, precinct: int) -> bytes:
    """A clean scan of a protocol whose precinct number was scribbled over in ink."""
    rng = random.Random(f"smudge:{index}")
    spec = SheetSpec(
        _form(), make_figures(_form(), rng), "table", "typed", "ru", True, precinct, "ru"
    )
    sheet = render_sheet(spec, rng)
    x, y, w, h = sheet.info["precinct_box"]
    draw = ImageDraw.Draw(sheet)
    for k in range(9):
        draw.line(
            [(x - 4 + k * w // 8, y - 6), (x + 4 + k * w // 8 - w // 5, y + h + 6)],
            fill=(20, 20, 60),
            width=4,
        )
    return photograph(sheet, "clean", rng)


def _form():
    from ocr import load_form

    return load_form("kz-mazhilis-party-list-2023")


@pytest.mark.slow
def test_a_number_scribbled_over_is_not_read(mazhilis) -> None:
    reading = read_protocol(_smudged(3, 495), mazhilis)
    assert reading.problem is None  # the page itself reads
    p = reading.precinct
    assert p.value is None and not p.read and p.reason is not PrecinctReason.READ, p
    assert reading.to_dict(reasons=True)["precinct_on_sheet"] is None
    assert "precinct on the sheet: not read" in format_table(reading)


@pytest.mark.slow
def test_a_sheet_without_a_precinct_line_is_not_read(mazhilis) -> None:
    s = _sample(1, 63, "none")
    assert s.truth["precinct"] is None
    p = read_protocol(s.image, mazhilis).precinct
    assert (p.value, p.reason) == (None, PrecinctReason.NO_LINE)


def test_a_page_that_cannot_be_read_has_no_precinct(mazhilis) -> None:
    p = read_protocol(b"not an image", mazhilis).precinct
    assert (p.value, p.reason) == (None, PrecinctReason.PAGE_NOT_READ)
