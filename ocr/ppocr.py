"""A reader of another kind: PP-OCRv4's text recogniser, as shipped in ``rapidocr-onnxruntime``.

Our own digit networks learnt from fonts and synthetic hands; PP-OCR's recogniser learnt
from a great deal of real text, printed and written, and reads a figure's crop as a line of
text (a convolutional network with CTC output over some 6,600 characters, digits among
them). It never cuts the figure into glyphs and shares no training data with our readers,
so its agreement with one of them is an agreement between independent witnesses.

The model is the ONNX file inside the pinned ``rapidocr-onnxruntime`` wheel (Apache-2.0),
run by ONNX Runtime on one CPU thread; nothing is downloaded at run time. The reading is
the greedy CTC decoding over every character the model knows: a crop read as anything but
digits ("26b", "1O") is no digit reading. Its confidence is the probability of exactly
those digits summed over every alignment (as :mod:`ocr.sequence` computes it), among the
readings in digits: each column's probabilities of the ten digits and the blank are
renormalised, the rest (thousands of characters a figure is not) set aside. A crop whose
best reading holds a letter is still no digit reading; but a "7" that some Chinese strokes
compete with is no longer read less sure than a "7" nothing competes with (on the dev seeds
this raised the coverage of real hands by 0.6-4 points, with no silent error).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ocr.errors import MissingDependency
from ocr.sequence import label_probability

PACKAGE = "rapidocr_onnxruntime"
MODEL = "models/ch_PP-OCRv4_rec_infer.onnx"
#: The recogniser's input: 3 x 48 x (at least) 320, values in -1..1.
HEIGHT = 48
MIN_WIDTH = 320


@dataclass(frozen=True)
class TextReading:
    """What the recogniser read in one crop."""

    text: str
    """Everything it read (letters too), spaces removed."""
    digits: str | None
    """``text`` when it is digits only, else None."""
    confidence: float
    """0..1: the probability of exactly these digits over every alignment; for a crop not
    read as digits, the greedy reading's lowest character probability."""


def _input(gray: np.ndarray, width: int) -> np.ndarray:
    """A grey crop as one 3 x HEIGHT x ``width`` input, scaled to the height, padded right."""
    h, w = gray.shape[:2]
    nw = min(width, max(1, math.ceil(HEIGHT * w / max(1, h))))
    small = cv2.resize(gray, (nw, HEIGHT), interpolation=cv2.INTER_AREA if h > HEIGHT else 1)
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :nw] = (small.astype(np.float32) / 255.0 - 0.5) / 0.5
    return out


class TextRecogniser:
    """The loaded recogniser (one ONNX Runtime session, one thread)."""

    def __init__(self, session: Any, characters: list[str], sha256: str) -> None:
        self.session = session
        self.characters = ["", *characters, " "]  # CTC blank first, space last
        self.sha256 = sha256
        self.input_name = session.get_inputs()[0].name
        where = {c: i for i, c in enumerate(self.characters)}
        missing = [d for d in "0123456789" if d not in where]
        if missing:
            raise MissingDependency(f"the PP-OCR recogniser knows no digit {missing[0]}")
        #: columns of the ten digits then the blank: the layout label_probability expects
        self.digit_columns = [where[d] for d in "0123456789"] + [0]

    def read(self, crops: list[np.ndarray]) -> list[TextReading]:
        """Read grey crops (uint8, dark ink on light paper), one reading each, in order."""
        if not crops:
            return []
        ratios = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        width = max(MIN_WIDTH, math.ceil(HEIGHT * max(ratios)))
        batch = np.stack([_input(c, width) for c in crops])
        prob = np.asarray(self.session.run(None, {self.input_name: batch})[0])
        return [self._decode(p) for p in prob]

    def _decode(self, prob: np.ndarray) -> TextReading:
        best = prob.argmax(axis=1)
        top = prob.max(axis=1)
        chars: list[str] = []
        confs: list[float] = []
        prev = 0
        for t, c in enumerate(best):
            c = int(c)
            if c != 0 and c != prev:
                chars.append(self.characters[c] if c < len(self.characters) else "?")
                confs.append(float(top[t]))
            prev = c
        text = "".join(ch for ch in chars if not ch.isspace())
        if text and text.isascii() and text.isdigit():
            # the figure is known to be a number, and its greedy reading is digits: how
            # sure of *these* digits, among readings in digits (the share of each column
            # the other characters took, a Chinese stroke or a space, is set aside)
            digits = prob[:, self.digit_columns]
            digits = digits / np.maximum(digits.sum(axis=1, keepdims=True), 1e-12)
            p = label_probability(digits, text)
            return TextReading(text, text, min(1.0, p))
        return TextReading(text, None, min(confs) if confs else 0.0)


@lru_cache(maxsize=1)
def load_recogniser() -> TextRecogniser:
    """The shipped recogniser; :class:`MissingDependency` when its package is absent."""
    try:
        import onnxruntime as ort

        # the wheel's folder, found without importing the package (its own code needs
        # PyYAML, Shapely and pyclipper, which only its detector uses; we read its model)
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(PACKAGE)
        data = (Path(next(iter(spec.submodule_search_locations))) / MODEL).read_bytes()
    except (ImportError, FileNotFoundError) as exc:
        raise MissingDependency(
            "the PP-OCR recogniser (rapidocr-onnxruntime, onnxruntime) is not installed; "
            "run `make venv`"
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    characters = meta.get("character", "").splitlines()
    if not characters:
        raise MissingDependency("the PP-OCR recogniser's model carries no character list")
    return TextRecogniser(session, characters, hashlib.sha256(data).hexdigest())


def text_model_version() -> dict[str, str]:
    """What to record beside a reading: the package, its model file and ONNX Runtime."""
    from importlib.metadata import version

    import onnxruntime as ort

    return {
        "package": f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}",
        "file": MODEL,
        "sha256": load_recogniser().sha256,
        "onnxruntime": ort.__version__,
    }


__all__ = ["TextReading", "TextRecogniser", "load_recogniser", "text_model_version"]
