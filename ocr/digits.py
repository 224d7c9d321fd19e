"""A small digit recognizer (HOG features + OpenCV ``ml.ANN_MLP``) and digit segmentation.

Classes 0-9 are digits; class 10 is "not a digit" (letters, specks, fragments, two
touching digits), so that a crop that is not one clean digit is refused rather than
forced into a digit. The model ships in ``ocr/models/digits-mlp.yml.gz``; it is built by
``python -m ocr.training.train_digits`` (see ``ocr/models/README.md``).
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
MODEL_NAME = "digits-mlp.yml.gz"
MODEL_B_NAME = "digits-mlp-b.yml.gz"
_HOG = cv2.HOGDescriptor((SIZE, SIZE), (14, 14), (7, 7), (7, 7), 9)


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


def features(glyphs: list[np.ndarray]) -> np.ndarray:
    """Feature rows (float32) for normalized 28x28 glyphs: HOG, 14x14 pixels, aspect, fill."""
    rows = []
    for g in glyphs:
        hog = np.asarray(_HOG.compute(g)).ravel()
        ys, xs = np.nonzero(g)
        aspect = (np.ptp(xs) + 1) / (np.ptp(ys) + 1) if len(xs) else 0.0
        fill = float((g > 127).mean())
        pixels = cv2.resize(g, (14, 14), interpolation=cv2.INTER_AREA).ravel() / 255.0
        rows.append(np.concatenate([hog, pixels * 0.5, [aspect / 2.0, fill * 4.0]]))
    return np.asarray(rows, np.float32)


def features_b(glyphs: list[np.ndarray]) -> np.ndarray:
    """Features of the second, independent model: a blurred 16x16 glyph and its row and
    column ink profiles (no gradients, unlike :func:`features`)."""
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


class DigitModel:
    """Loaded recognizer."""

    def __init__(self, mlp: cv2.ml.ANN_MLP, sha256: str, featurize=features) -> None:  # type: ignore[no-untyped-def]
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
        guesses = []
        for p in prob:
            order = np.argsort(-p)
            best = int(order[0])
            alts = tuple((int(c), float(p[c])) for c in order[1:4] if c != JUNK and p[c] >= 0.05)
            guesses.append(DigitGuess(None if best == JUNK else best, float(p[best]), alts))
        return guesses


def _load(name: str, featurize) -> DigitModel:  # type: ignore[no-untyped-def]
    path = resources.files("ocr").joinpath("models", name)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingDependency(
            f"digit model ocr/models/{name} is missing; rebuild it with "
            "`python -m ocr.training.train_digits`"
        ) from exc
    import gzip
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".yml") as tmp:
        tmp.write(gzip.decompress(data))
        tmp.flush()
        mlp = cv2.ml.ANN_MLP_load(tmp.name)  # type: ignore[attr-defined]  # missing from stubs
    return DigitModel(mlp, hashlib.sha256(data).hexdigest(), featurize)


@lru_cache(maxsize=1)
def load_model() -> DigitModel:
    """Load the shipped main model; raises :class:`MissingDependency` if it is absent."""
    return _load(MODEL_NAME, features)


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
