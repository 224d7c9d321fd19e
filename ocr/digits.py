"""The two glyph readers and digit segmentation.

Reader A is a small convolutional network (``ocr/models/digits-cnn.onnx``, run with
OpenCV's ``dnn``; built by ``python -m ocr.training.train_digit_cnn``); reader B, the
second opinion, an MLP on other features (``ocr/models/digits-mlp-b.yml.gz``, OpenCV
``ml.ANN_MLP``; built by ``python -m ocr.training.train_digits``). Classes 0-9 are digits;
class 10 is "not a digit" (letters, specks, fragments, two touching digits), so that a
crop that is not one clean digit is refused rather than forced into a digit. See
``ocr/models/README.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from ocr.errors import MissingDependency

SIZE = 28
JUNK = 10
MODEL_NAME = "digits-cnn.onnx"
MODEL_B_NAME = "digits-mlp-b.yml.gz"


def normalize_glyph(mask: np.ndarray) -> np.ndarray:
    """Fit a binary glyph mask (ink = 255) into a 28x28 image, aspect kept, MNIST style."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((SIZE, SIZE), np.uint8)
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    k = 20.0 / max(h, w)
    nh, nw = max(1, round(h * k)), max(1, round(w * k))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((SIZE, SIZE), np.uint8)
    y0, x0 = (SIZE - nh) // 2, (SIZE - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def features_b(glyphs: list[np.ndarray]) -> np.ndarray:
    """Features of the MLP (the second glyph reader): a blurred 16x16 glyph and its row
    and column ink profiles (no learned filters, unlike the network of the first)."""
    rows = []
    for g in glyphs:
        soft = cv2.GaussianBlur(g, (0, 0), 1.0).astype(np.float32) / 255.0
        grid = cv2.resize(soft, (16, 16), interpolation=cv2.INTER_AREA).ravel()
        cols = soft.mean(axis=0)
        lines = soft.mean(axis=1)
        rows.append(np.concatenate([grid, cols * 2.0, lines * 2.0]))
    return np.asarray(rows, np.float32)


@dataclass(frozen=True)
class DigitGuess:
    """The recognizer's reading of one glyph."""

    digit: int | None
    """0-9, or None if the glyph is classed as not a digit."""
    confidence: float
    """0..1: softmax probability of the winning class."""
    alternatives: tuple[tuple[int, float], ...]
    """Other digits with probability >= 0.05, best first."""


def _guesses(prob: np.ndarray) -> list[DigitGuess]:
    guesses = []
    for p in prob:
        order = np.argsort(-p)
        best = int(order[0])
        alts = tuple((int(c), float(p[c])) for c in order[1:4] if c != JUNK and p[c] >= 0.05)
        guesses.append(DigitGuess(None if best == JUNK else best, float(p[best]), alts))
    return guesses


class CnnDigitModel:
    """The main glyph recognizer: a small convolutional network (ONNX, OpenCV ``dnn``)."""

    def __init__(self, net: cv2.dnn.Net, sha256: str) -> None:
        self.net = net
        self.sha256 = sha256

    def classify(self, glyphs: list[np.ndarray]) -> list[DigitGuess]:
        """Classify normalized glyphs (see :func:`normalize_glyph`)."""
        if not glyphs:
            return []
        batch = np.stack(glyphs).astype(np.float32)[:, None, :, :] / 255.0
        self.net.setInput(batch)
        out = np.asarray(self.net.forward(), np.float64).reshape(len(glyphs), -1)
        out -= out.max(axis=1, keepdims=True)
        prob = np.exp(out)
        prob /= prob.sum(axis=1, keepdims=True)
        return _guesses(prob)


class DigitModel:
    """Loaded MLP recognizer (the second glyph reader)."""

    def __init__(self, mlp: cv2.ml.ANN_MLP, sha256: str, featurize=features_b) -> None:  # type: ignore[no-untyped-def]
        self.mlp = mlp
        self.sha256 = sha256
        self.featurize = featurize

    def classify(self, glyphs: list[np.ndarray]) -> list[DigitGuess]:
        """Classify normalized glyphs (see :func:`normalize_glyph`)."""
        if not glyphs:
            return []
        _, out = self.mlp.predict(self.featurize(glyphs))
        out = out.astype(np.float64) * 3.0
        out -= out.max(axis=1, keepdims=True)
        prob = np.exp(out)
        prob /= prob.sum(axis=1, keepdims=True)
        return _guesses(prob)


def _read_model(name: str, how: str) -> bytes:
    try:
        return resources.files("ocr").joinpath("models", name).read_bytes()
    except FileNotFoundError as exc:
        raise MissingDependency(
            f"digit model ocr/models/{name} is missing; rebuild it with `python -m {how}`"
        ) from exc


def _load(name: str, featurize) -> DigitModel:  # type: ignore[no-untyped-def]
    data = _read_model(name, "ocr.training.train_digits")
    import gzip
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".yml") as tmp:
        tmp.write(gzip.decompress(data))
        tmp.flush()
        mlp = cv2.ml.ANN_MLP_load(tmp.name)  # type: ignore[attr-defined]  # missing from stubs
    return DigitModel(mlp, hashlib.sha256(data).hexdigest(), featurize)


GlyphReader = CnnDigitModel | DigitModel
"""Either glyph reader: both classify normalized glyphs alike."""


@lru_cache(maxsize=1)
def load_model() -> CnnDigitModel:
    """Load the shipped main model; raises :class:`MissingDependency` if it is absent."""
    data = _read_model(MODEL_NAME, "ocr.training.train_digit_cnn")
    net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    return CnnDigitModel(net, hashlib.sha256(data).hexdigest())


@lru_cache(maxsize=1)
def load_model_b() -> DigitModel:
    """Load the second model (other features, other training draw); raises
    :class:`MissingDependency` if it is absent."""
    return _load(MODEL_B_NAME, features_b)


def segment(binary: np.ndarray, line_height: float) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of glyphs in a binary crop (ink = 255), left to right.

    Components overlapping in x by more than half of the narrower are one glyph
    (a "5" whose flag is detached); specks smaller than 8% of the line height are dropped.
    """
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes = []
    min_h = max(3.0, 0.08 * line_height)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if max(w, h) < min_h or area < 4:
            continue
        boxes.append([int(x), int(y), int(w), int(h)])
    boxes.sort(key=lambda b: b[0])
    merged: list[list[int]] = []
    for b in boxes:
        if merged:
            m = merged[-1]
            overlap = min(m[0] + m[2], b[0] + b[2]) - max(m[0], b[0])
            if overlap > 0.5 * min(m[2], b[2]):
                x0, y0 = min(m[0], b[0]), min(m[1], b[1])
                x1, y1 = max(m[0] + m[2], b[0] + b[2]), max(m[1] + m[3], b[1] + b[3])
                merged[-1] = [x0, y0, x1 - x0, y1 - y0]
                continue
        merged.append(b)
    return [tuple(m) for m in merged]  # type: ignore[misc]
