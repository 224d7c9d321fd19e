"""Real hands for the networks to learn from: the 4,000 ``train`` digits of MNIST
(:mod:`ocr.synth.hands`; the 1,000 ``held_out`` digits are never used here, except to
measure).

A digit is drawn as a writer draws it on a protocol (:func:`ocr.synth.hands.draw_digit`: sheared
to the writer's slant, scaled, stroked with a ballpoint's weight and uneven pressure), then
photographed (lower resolution, blur, noise) and binarized with the reader's own adaptive
threshold, exactly as the typed and font-hand glyphs of :mod:`ocr.training.train_digits`.
A figure is composed digit by digit by one writer (:func:`ocr.synth.hands.compose`).
"""

from __future__ import annotations

import random

import cv2
import numpy as np

from ocr.digits import normalize_glyph
from ocr.synth import hands
from ocr.training.common import Degradation, photograph


def _ink(alpha: np.ndarray) -> np.ndarray:
    """Ink coverage (0..1) as rendered ink (uint8, ink = 255) with room around it."""
    arr = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.copyMakeBorder(arr, 14, 14, 14, 14, cv2.BORDER_CONSTANT, value=0)


def _drop_specks(binary: np.ndarray, share: float = 0.12) -> np.ndarray:
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 2:
        return binary
    big = st[1:, cv2.CC_STAT_AREA].max()
    keep = np.zeros(n, bool)
    keep[1:] = st[1:, cv2.CC_STAT_AREA] >= share * big
    return np.where(keep[lab], 255, 0).astype(np.uint8)


def glyph(
    digit: int, index: int, rng: random.Random, photo: Degradation, split: hands.Split = "train"
) -> np.ndarray:
    """MNIST digit ``index`` of ``digit`` (in ``split``) written by a random writer,
    photographed and normalized as the reader normalizes a glyph (28 x 28, ink = 255)."""
    writer = hands.new_writer(rng, split)
    img = hands.digits(split)[digit][index]
    alpha = hands.draw_digit(
        img, hands.lean_of(split, digit, index), rng.uniform(30, 46), rng, writer
    )
    return normalize_glyph(_drop_specks(photograph(_ink(alpha), rng, photo)))


def junk(rng: random.Random, photo: Degradation, split: hands.Split = "train") -> np.ndarray:
    """Not one digit, in a real hand: two digits side by side, or a piece of one."""
    writer = hands.new_writer(rng, split)
    if rng.random() < 0.55:
        fig = hands.compose(str(rng.randint(10, 99)), rng.randint(30, 46), rng, writer)
        binary = _drop_specks(photograph(_ink(fig.alpha), rng, photo))
        return normalize_glyph(cv2.dilate(binary, np.ones((1, 3), np.uint8)))
    while True:  # a piece of a digit, never one that is a digit (a bar: "1"; a loop: "0")
        d = rng.randrange(10)
        i = rng.randrange(len(hands.digits(split)[d]))
        img = hands.digits(split)[d][i]
        alpha = hands.draw_digit(img, hands.lean_of(split, d, i), rng.uniform(30, 46), rng, writer)
        binary = _drop_specks(photograph(_ink(alpha), rng, photo))
        ys, xs = np.nonzero(binary)
        if len(ys) == 0:
            continue
        binary = binary[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        h, w = binary.shape
        if rng.random() < 0.5:
            if d in (8, 9):  # the top of an 8 or a 9 is a whole small "0"
                continue
            binary = binary[: max(1, int(h * rng.uniform(0.25, 0.5))), :]
        else:
            binary = binary[:, : max(1, int(w * rng.uniform(0.25, 0.45)))]
        pts = cv2.findNonZero(binary)
        if pts is None:
            continue
        (_, _), (a, b), _ = cv2.minAreaRect(pts)
        if max(a, b) < 2.2 * max(1.0, min(a, b)):  # not a bar, at any slant
            return normalize_glyph(binary)


def figure_ink(text: str, rng: random.Random, split: hands.Split = "train") -> np.ndarray:
    """``text`` written by a random writer of ``split`` as rendered ink (uint8, ink = 255),
    digits 30 to 46 pixels tall, before the photograph."""
    writer = hands.new_writer(rng, split)
    return _ink(hands.compose(text, rng.randint(30, 46), rng, writer).alpha)


def held_out_glyphs(
    seed: int, photo: Degradation, split: hands.Split = "held_out", every: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """MNIST's 1,000 held-out digits (or every ``every``-th digit of ``split``: ``test``, the
    10,000 in hands no training digit was written in), each drawn once by a random writer
    and photographed as the training glyphs are: never trained on, only measured."""
    rng = random.Random(seed)
    glyphs, labels = [], []
    for d, imgs in hands.digits(split).items():
        for i in range(0, len(imgs), every):
            glyphs.append(glyph(d, i, rng, photo, split))
            labels.append(d)
    return glyphs, np.asarray(labels, np.int64)
