"""PP-OCR's recogniser as a reader (ocr.ppocr) and as a witness in the decision (ocr.decide):
the shipped model reads figures it is shown, anything but digits is no digit reading, and
its agreement with one of our networks accepts a figure only when no other reader is sure
of other digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.decide import TEXT_MIN, TEXT_VETO, decide
from ocr.digits import DigitGuess
from ocr.figures import ModelReading
from ocr.ppocr import TextReading, load_recogniser, text_model_version
from ocr.result import Reason, Status
from ocr.sequence import SequenceReading
from ocr.synth import fonts

NONE_M = ModelReading(None, 0.0, ())
NONE_S = SequenceReading(None, 0.0)


def _crop(text: str, font: str, size: int = 40) -> np.ndarray:
    """``text`` in dark ink on light paper, as a figure's crop is cut from the sheet."""
    f = ImageFont.truetype(font, size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=f)
    img = Image.new("L", (x1 - x0 + 24, y1 - y0 + 24), 235)
    ImageDraw.Draw(img).text((12 - x0, 12 - y0), text, font=f, fill=30)
    return np.asarray(img)


def glyphs(digits: str | None, conf: float) -> ModelReading:
    if digits is None:
        return ModelReading(None, conf, ())
    return ModelReading(digits, conf, tuple(DigitGuess(int(d), conf, ()) for d in digits))


def text(digits: str | None, conf: float) -> TextReading:
    return TextReading(digits or "x", digits, conf)


# --- the reader ----------------------------------------------------------------------------
def test_the_shipped_recogniser_reads_figures_in_print_and_in_hands() -> None:
    rec = load_recogniser()
    figures = ["2787", "1043", "35", "906", "0", "18264"]
    crops = [_crop(f, fonts.TYPED[i % len(fonts.TYPED)]) for i, f in enumerate(figures)]
    hands = fonts.available(fonts.HAND_HELD_OUT)
    assert hands, fonts.INSTALL_HINT
    crops += [_crop(f, hands[i % len(hands)], 48) for i, f in enumerate(figures)]
    read = rec.read(crops)
    assert len(read) == len(crops)
    typed = read[: len(figures)]
    assert [r.digits for r in typed] == figures
    assert all(r.confidence >= 0.75 for r in typed)
    # hands it is shown for the first time: most read right, none of them read as letters
    right = sum(r.digits == f for r, f in zip(read[len(figures) :], figures, strict=True))
    assert right >= len(figures) - 2


def test_a_crop_of_letters_is_no_digit_reading() -> None:
    rec = load_recogniser()
    [word, mixed] = rec.read([_crop("AMANAT", fonts.TYPED[0]), _crop("26b", fonts.TYPED[0])])
    assert word.digits is None and word.text
    assert mixed.digits is None and mixed.text.startswith("26")


def test_the_confidence_is_of_exactly_these_digits() -> None:
    """A digit half wiped out lowers it: the probability counts every alignment."""
    rec = load_recogniser()
    clean = _crop("4721", fonts.TYPED[0])
    smudged = clean.copy()
    w = smudged.shape[1]
    smudged[:, int(0.55 * w) : int(0.62 * w)] = 235  # a strip of the "2" gone
    [a, b] = rec.read([clean, smudged])
    assert a.digits == "4721" and a.confidence > 0.9
    assert b.digits != "4721" or b.confidence < a.confidence


def test_only_other_digits_make_it_less_sure() -> None:
    """A figure is known to be a number: the share of a column that a character no figure
    holds (a Chinese stroke, a space) took is set aside; another digit's share is not."""
    rec = load_recogniser()
    chars = rec.characters
    stroke = next(i for i, c in enumerate(chars) if c and not c.isascii())
    seven, one, space = chars.index("7"), chars.index("1"), len(chars) - 1

    def columns(rival: int) -> np.ndarray:
        prob = np.zeros((6, len(chars)), np.float32)
        prob[:, 0] = 0.6  # blank
        prob[:, space] = 0.4
        prob[2] = 0.0
        prob[2, seven], prob[2, rival], prob[2, 0] = 0.5, 0.45, 0.05
        return prob

    beside_a_stroke = rec._decode(columns(stroke))
    beside_a_one = rec._decode(columns(one))
    assert beside_a_stroke.digits == beside_a_one.digits == "7"
    assert beside_a_stroke.confidence > 0.9
    assert beside_a_one.confidence < 0.6


def test_the_model_is_recorded_beside_a_reading() -> None:
    v = text_model_version()
    assert v["package"] == "rapidocr-onnxruntime 1.4.4"
    assert len(v["sha256"]) == 64 and v["onnxruntime"]


# --- the witness ---------------------------------------------------------------------------
def test_ppocr_and_the_glyph_network_agreeing_accept_a_figure_our_readers_alone_do_not() -> None:
    # an unseen hand: the glyph network fairly sure, the whole-figure network reading other
    # digits unsure, Tesseract nothing
    args = (glyphs("482", 0.86), NONE_M, (None, 0.0), None, SequenceReading("432", 0.4))
    st, _, _, _ = decide(*args)
    assert st is Status.REVIEW
    st, reason, _, cands = decide(*args, text("482", 0.97))
    assert (st, reason, cands[0]) == (Status.ACCEPTED, Reason.READINGS_AGREE, 482)
    # the glyph network unsure (0.62): not enough since real hands' "2"s fooled PP-OCR and a
    # network 0.64-0.68 sure alike (TEXT_PEER_MIN)
    unsure = (glyphs("482", 0.62), *args[1:])
    assert decide(*unsure, text("482", 0.97))[0] is Status.REVIEW


def test_ppocr_and_the_whole_figure_network_agreeing_accept() -> None:
    st, reason, _, cands = decide(
        NONE_M, NONE_M, (None, 0.0), None, SequenceReading("1507", 0.86), text("1507", 0.95)
    )
    assert (st, reason, cands[0]) == (Status.ACCEPTED, Reason.READINGS_AGREE, 1507)
    unsure = SequenceReading("1507", 0.7)
    assert decide(NONE_M, NONE_M, (None, 0.0), None, unsure, text("1507", 0.95))[0] is (
        Status.REVIEW
    )


@pytest.mark.parametrize(
    ("model", "seq", "tess", "ppocr"),
    [
        # PP-OCR not sure enough of its own reading
        (glyphs("482", 0.9), SequenceReading(None, 0.0), (None, 0.0), ("482", TEXT_MIN - 0.01)),
        # Tesseract sure of other digits
        (glyphs("482", 0.9), SequenceReading(None, 0.0), ("432", 0.96), ("482", 0.99)),
        # the whole-figure network sure of other digits
        (glyphs("482", 0.9), SequenceReading("432", 0.95), (None, 0.0), ("482", 0.99)),
        # the glyph network sure of other digits against PP-OCR and the whole-figure network
        (glyphs("432", 0.95), SequenceReading("482", 0.9), (None, 0.0), ("482", 0.99)),
        # the peer network barely reading it
        (glyphs("482", 0.3), SequenceReading(None, 0.0), (None, 0.0), ("482", 0.99)),
    ],
)
def test_ppocr_agreements_that_stay_under_review(model, seq, tess, ppocr) -> None:
    st, _, _, _ = decide(model, NONE_M, tess, None, seq, text(*ppocr))
    assert st is Status.REVIEW


def test_ppocr_sure_of_other_digits_vetoes_an_agreement_of_our_own_readers() -> None:
    args = (
        glyphs("215", 0.97),
        glyphs("216", 0.4),
        ("15", 0.6),
        None,
        SequenceReading("215", 0.96),
    )
    assert decide(*args)[0] is Status.ACCEPTED
    assert decide(*args, text("275", TEXT_VETO))[0] is Status.REVIEW
    assert decide(*args, text("275", TEXT_VETO - 0.05))[0] is Status.ACCEPTED
    assert decide(*args, text("2715", 0.99))[0] is Status.ACCEPTED  # another length: no veto


def test_ppocr_agreeing_with_the_words_accepts_the_words() -> None:
    from ocr.layout import WordsRun

    run = WordsRun((0,), "сто сорок пять", 145, (0, 0, 10, 10))
    st, reason, _, cands = decide(NONE_M, NONE_M, (None, 0.0), run, NONE_S, text("145", 0.8))
    assert (st, reason, cands[0]) == (Status.ACCEPTED, Reason.DIGITS_AND_WORDS_AGREE, 145)


def test_the_model_is_read_without_importing_its_package() -> None:
    """rapidocr-onnxruntime's own code needs PyYAML, Shapely and pyclipper (for its
    detector), which are not installed: only its model file is read."""
    import subprocess
    import sys

    code = (
        "import sys; from ocr.ppocr import load_recogniser; load_recogniser(); "
        "print(any(m.startswith('rapidocr_onnxruntime') or m == 'yaml' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
