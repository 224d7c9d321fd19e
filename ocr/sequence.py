"""A segmentation-free reader of a whole figure: a small convolutional network with CTC output.

The digit models (:mod:`ocr.digits`) read a figure glyph by glyph, after cutting it into
glyphs; when the cut is wrong (two digits touching, one digit broken in two) both of them
are wrong together. This reader never cuts: it looks at the whole figure and emits a digit
sequence (connectionist temporal classification, greedy decoding), so an agreement between
it and the glyph models is an agreement between two independent ways of reading.

The network ships as ONNX in ``ocr/models/figures-ctc.onnx`` and runs with OpenCV's ``dnn``
module; it is built by ``python -m ocr.training.train_sequence`` (see
``ocr/models/README.md``). Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from ocr.errors import MissingDependency

MODEL_NAME = "figures-ctc.onnx"
HEIGHT = 32
WIDTH = 192
#: Ink is fitted into this many pixels of height, centred (the rest is margin).
INK_HEIGHT = 24
BLANK = 10


def normalize_figure(mask: np.ndarray) -> np.ndarray:
    """A figure's ink mask (ink = 255) as the network's input: ``HEIGHT`` x ``WIDTH`` float32
    in 0..1, ink cropped, fitted to ``INK_HEIGHT`` rows, aspect kept unless too wide."""
    out = np.zeros((HEIGHT, WIDTH), np.float32)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return out
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    k = INK_HEIGHT / h
    nw = max(1, round(w * k))
    nw = min(nw, WIDTH - 8)  # a very wide figure is squeezed, not cut
    small = cv2.resize(crop, (nw, INK_HEIGHT), interpolation=cv2.INTER_AREA)
    y0 = (HEIGHT - INK_HEIGHT) // 2
    out[y0 : y0 + INK_HEIGHT, 4 : 4 + nw] = small / 255.0
    return out


@dataclass(frozen=True)
class SequenceReading:
    """The network's reading of a whole figure."""

    digits: str | None
    """The digits, or None when nothing was read."""
    confidence: float
    """0..1: the network's probability of exactly these digits, summed over every
    alignment of them to its columns (the CTC forward algorithm), so that doubt about a
    digit's presence or identity anywhere lowers it."""
    char_confidences: tuple[float, ...] = ()
    """Per emitted digit: its highest probability over the columns it spans."""


def label_probability(prob: np.ndarray, label: str) -> float:
    """P(label | columns) under CTC: the sum over all alignments (forward algorithm)."""
    ext = [BLANK]
    for ch in label:
        ext += [int(ch), BLANK]
    n = len(ext)
    alpha = np.zeros(n)
    alpha[0] = prob[0, BLANK]
    if n > 1:
        alpha[1] = prob[0, ext[1]]
    for t in range(1, len(prob)):
        prev = alpha
        alpha = prev.copy()
        alpha[1:] += prev[:-1]
        for s in range(2, n):
            if ext[s] != BLANK and ext[s] != ext[s - 2]:
                alpha[s] += prev[s - 2]
        alpha *= prob[t, ext]
    return float(alpha[-1] + (alpha[-2] if n > 1 else 0.0))


def decode(prob: np.ndarray) -> SequenceReading:
    """Greedy CTC decoding of per-column probabilities (columns x classes, blank last)."""
    best = prob.argmax(axis=1)
    top = prob.max(axis=1)
    digits: list[str] = []
    confs: list[float] = []
    prev = BLANK
    for t, c in enumerate(best):
        c = int(c)
        if c != BLANK and c != prev:
            digits.append(str(c))
            confs.append(float(top[t]))
        elif c != BLANK and c == prev:
            confs[-1] = max(confs[-1], float(top[t]))
        prev = c
    if not digits:
        return SequenceReading(None, label_probability(prob, "") if len(prob) else 0.0, ())
    label = "".join(digits)
    return SequenceReading(label, min(1.0, label_probability(prob, label)), tuple(confs))


class SequenceModel:
    """Loaded network."""

    def __init__(self, net: cv2.dnn.Net, sha256: str) -> None:
        self.net = net
        self.sha256 = sha256

    def read(self, masks: list[np.ndarray]) -> list[SequenceReading]:
        """Read figure masks (ink = 255), one reading each, in order."""
        if not masks:
            return []
        batch = np.stack([normalize_figure(m) for m in masks])[:, None, :, :]
        self.net.setInput(batch)
        out = np.asarray(self.net.forward())  # (batch, classes, 1, columns)
        logits = out.reshape(len(masks), BLANK + 1, -1).transpose(0, 2, 1)
        logits = logits - logits.max(axis=2, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=2, keepdims=True)
        return [decode(p) for p in prob]


@lru_cache(maxsize=1)
def load_sequence_model() -> SequenceModel:
    """Load the shipped network; raises :class:`MissingDependency` if it is absent."""
    path = resources.files("ocr").joinpath("models", MODEL_NAME)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingDependency(
            f"figure model ocr/models/{MODEL_NAME} is missing; rebuild it with "
            "`python -m ocr.training.train_sequence`"
        ) from exc
    net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    return SequenceModel(net, hashlib.sha256(data).hexdigest())


__all__ = [
    "SequenceModel",
    "SequenceReading",
    "decode",
    "load_sequence_model",
    "normalize_figure",
]
