"""Real hands: figures written with MNIST digits (``ocr/synth/data/mnist_5k.csv.gz``).

The 5,000 digits (500 of each, written by hundreds of people; see ``data/README.md``) are split
once, by a fixed rule, into

- ``held_out``: 1,000 digits, the 100 of each class whose SHA-256 over their 784 pixel bytes is
  smallest (ties: file order). No training may use them; the synthetic protocols write with
  them by default, so every benchmark figure is in a hand the networks never saw;
- ``train``: the other 4,000 (400 of each class), for ``ocr/training``.

A figure ("1537") is composed by one :class:`Writer`: digits picked near the writer's stroke
width and slant, sheared to that slant, scaled to the cell's height, spaced unevenly on a
wavering baseline, stroked thicker or thinner, and pressed onto the page in blue or black
ballpoint with anti-aliased edges (:func:`compose`, :func:`press`, :class:`MnistHand`).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import cv2
import numpy as np
from PIL import Image

Split = Literal["train", "held_out", "more", "test"]
#: The splits of the 5,000 digits shipped here.
SPLITS: tuple[Split, ...] = ("train", "held_out")
#: The rest of MNIST, for training (``more``) and measuring (``test``: other writers) only,
#: fetched at training time (:mod:`ocr.training.mnist_more`); never shipped, never read by
#: the product.
MORE_SPLITS: tuple[Split, ...] = ("more", "test")
#: Held-out digits per class.
HELD_OUT_PER_DIGIT = 100
#: Ballpoint inks: blues (most protocols) and a black.
INKS = ((25, 45, 130), (20, 35, 105), (35, 60, 160), (28, 28, 36))


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits (N x 28 x 28 uint8, ink high) and their labels, in file order."""
    path = resources.files("ocr.synth").joinpath("data", "mnist_5k.csv.gz")
    with resources.as_file(path) as p:
        raw = np.loadtxt(p, delimiter=",", dtype=np.uint8)
    return raw[:, :-1].reshape(-1, 28, 28).copy(), raw[:, -1].astype(np.int64)


@lru_cache(maxsize=1)
def held_out_rows() -> frozenset[int]:
    """Row numbers (0-based, in the file) of the 1,000 held-out digits."""
    images, labels = _table()
    rows: set[int] = set()
    for d in range(10):
        idx = np.flatnonzero(labels == d)
        keyed = sorted((hashlib.sha256(images[i].tobytes()).hexdigest(), int(i)) for i in idx)
        rows.update(i for _, i in keyed[:HELD_OUT_PER_DIGIT])
    return frozenset(rows)


@lru_cache(maxsize=2)
def _rows(split: Split) -> dict[int, tuple[int, ...]]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    _, labels = _table()
    held = held_out_rows()
    return {
        d: tuple(
            int(i) for i in np.flatnonzero(labels == d) if (int(i) in held) == (split == "held_out")
        )
        for d in range(10)
    }


def digits(split: Split) -> dict[int, list[np.ndarray]]:
    """The digits of ``split``: digit -> its 28 x 28 images (uint8, ink 255 on 0), file order.

    ``train`` has 400 of each digit, ``held_out`` 100; the two never share an image. ``more``
    and ``test`` are the rest of MNIST (:mod:`ocr.training.mnist_more`, training only)."""
    if split in MORE_SPLITS:
        return _more(split)
    images, _ = _table()
    return {d: [images[i] for i in rows] for d, rows in _rows(split).items()}


@lru_cache(maxsize=2)
def _more(split: Split) -> dict[int, list[np.ndarray]]:
    """The rest of MNIST's digits of ``split`` (``more`` or ``test``), fetched once."""
    from ocr.training import mnist_more

    return mnist_more.digits(split, _table()[0])  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def _features(split: Split) -> dict[int, np.ndarray]:
    """Per digit of ``split``: (stroke width in MNIST pixels, lean) for each image.

    The lean is how far the digit's top leans right per pixel of height (from its second
    moments); the width is twice the ink area over the outline's length."""
    out: dict[int, np.ndarray] = {}
    for d, imgs in digits(split).items():
        feats = []
        for img in imgs:
            m = cv2.moments(img.astype(np.float32))
            lean = -m["mu11"] / m["mu02"] if m["mu02"] > 1e-6 else 0.0
            binary = (img > 127).astype(np.uint8)
            contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            perimeter = sum(cv2.arcLength(c, True) for c in contours)
            width = 2.0 * float(binary.sum()) / perimeter if perimeter else 2.0
            feats.append((width, lean))
        out[d] = np.array(feats, np.float64)
    return out


@dataclass(frozen=True)
class Writer:
    """One person's hand: how every digit of their figures is picked and drawn."""

    split: Split
    """Which digits they write with."""
    width: float
    """The stroke width (MNIST pixels) of the digits they are picked to resemble."""
    slant: float
    """How far their digits' tops lean right, per pixel of height (about -0.1 to 0.4)."""
    weight: float
    """Where the stroke's edge is cut, 0.25 (heavy pen) to 0.65 (light, thin strokes)."""
    gap: float
    """Their mean gap between digits, as a fraction of the digit height."""
    ink: tuple[int, int, int]
    """Ballpoint colour (RGB)."""


def new_writer(rng: random.Random, split: Split = "held_out") -> Writer:
    """A random writer of ``split``'s digits."""
    feats = np.concatenate(list(_features(split).values()))
    width = float(feats[rng.randrange(len(feats)), 0])
    base = INKS[rng.randrange(3)] if rng.random() < 0.75 else INKS[3]
    ink = [max(0, min(255, c + rng.randint(-12, 12))) for c in base]
    return Writer(
        split=split,
        width=width,
        slant=rng.uniform(-0.12, 0.38),
        weight=rng.uniform(0.28, 0.62),
        gap=rng.uniform(0.02, 0.28),
        ink=(ink[0], ink[1], ink[2]),
    )


@dataclass(frozen=True)
class Figure:
    """A figure written by hand: ink coverage and where each digit is."""

    alpha: np.ndarray
    """Ink coverage in [0, 1] (float32, H x W), anti-aliased."""
    boxes: tuple[tuple[int, int, int, int], ...]
    """Each digit's box (x, y, w, h) in ``alpha``, left to right."""
    sources: tuple[tuple[int, int], ...]
    """Each digit's source: (digit, index into ``digits(split)[digit]``)."""


def pick(digit: int, rng: random.Random, writer: Writer, avoid: set[int] | None = None) -> int:
    """Index into ``digits(writer.split)[digit]`` of an image that resembles the writer's:
    the nearest in stroke width and lean of a dozen drawn at random (never one in ``avoid``)."""
    feats = _features(writer.split)[digit]
    choices = [i for i in range(len(feats)) if not avoid or i not in avoid]
    cands = rng.sample(choices, min(12, len(choices)))
    spread = feats.std(axis=0) + 1e-6
    return min(
        cands,
        key=lambda i: (
            abs(feats[i, 0] - writer.width) / spread[0]
            + abs(feats[i, 1] - writer.slant) / spread[1]
        ),
    )


def lean_of(split: Split, digit: int, index: int) -> float:
    """How far ``digits(split)[digit][index]``'s top leans right per pixel of height."""
    return float(_features(split)[digit][index, 1])


def draw_digit(
    img: np.ndarray, lean: float, height: float, rng: random.Random, writer: Writer
) -> np.ndarray:
    """One digit as ink coverage (float32), sheared to the writer's slant, ``height`` tall."""
    g: np.ndarray = img.astype(np.float32) / 255.0
    # specks beside the digit (a few MNIST scans have them) would widen its box: dropped
    n, lab, stats, _ = cv2.connectedComponentsWithStats((img > 25).astype(np.uint8))
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= 0.15 * areas.max()) + 1
        kept = cv2.dilate(np.isin(lab, keep).astype(np.uint8), np.ones((3, 3), np.uint8))
        g = g * kept
    ys, xs = np.nonzero(g > 0.1)
    g = g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    g = np.pad(g, 3)
    h, w = g.shape
    k = height / max(1, h - 6)
    # the shear that turns the digit's own lean into (mostly) the writer's
    s = 0.8 * (writer.slant - lean) + rng.uniform(-0.04, 0.04)
    out_w = int(np.ceil((w + abs(s) * h) * k)) + 2
    out_h = int(np.ceil(h * k)) + 2
    m = np.array([[k, -s * k, (abs(s) * h / 2 + s * h / 2) * k], [0, k, 0]], np.float32)
    g = cv2.warpAffine(g, m, (out_w, out_h), flags=cv2.INTER_CUBIC, borderValue=0.0)
    g = cv2.GaussianBlur(g, (0, 0), 0.35 * k)
    # the pen: cut the blurred stroke at the writer's weight, a soft edge of about a pixel
    edge = writer.weight + rng.uniform(-0.04, 0.04)
    g = np.clip((g - edge) / 0.3 + 0.5, 0.0, 1.0)
    # a ballpoint's uneven pressure along the stroke
    noise = cv2.resize(
        np.array([[rng.uniform(0.72, 1.0) for _ in range(3)] for _ in range(3)], np.float32),
        (g.shape[1], g.shape[0]),
        interpolation=cv2.INTER_LINEAR,
    )
    g *= noise
    ys, xs = np.nonzero(g > 0.02)
    if len(ys) == 0:
        return g
    return g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def compose(text: str, height: int, rng: random.Random, writer: Writer) -> Figure:
    """``text`` (digits; a space leaves a gap) written by ``writer``, digits ``height`` tall."""
    pool = digits(writer.split)
    feats = _features(writer.split)
    sources: list[tuple[int, int]] = []
    used: dict[int, set[int]] = {}
    drift = rng.uniform(-0.04, 0.04)  # the baseline's slope, pixels per pixel
    x = 0.0
    placed: list[tuple[np.ndarray, int, int]] = []
    for ch in text:
        if ch == " ":
            x += 0.45 * height
            continue
        if not ch.isdigit():
            raise ValueError(f"a hand writes digits only, not {ch!r}")
        d = int(ch)
        i = pick(d, rng, writer, used.setdefault(d, set()))
        used[d].add(i)
        g = draw_digit(
            pool[d][i], float(feats[d][i, 1]), height * rng.uniform(0.88, 1.06), rng, writer
        )
        sources.append((d, i))
        y_mid = drift * x + rng.uniform(-0.05, 0.05) * height
        placed.append((g, round(x), round(y_mid - g.shape[0] / 2)))
        gap = max(-0.06, writer.gap + rng.uniform(-0.08, 0.08)) * height
        x += g.shape[1] + gap
    if not placed:
        return Figure(np.zeros((1, 1), np.float32), (), ())
    top = min(y for _, _, y in placed)
    width = max(px + g.shape[1] for g, px, _ in placed)
    bottom = max(y + g.shape[0] for g, _, y in placed)
    alpha = np.zeros((bottom - top, width), np.float32)
    boxes = []
    for g, px, py in placed:
        y0 = py - top
        region = alpha[y0 : y0 + g.shape[0], px : px + g.shape[1]]
        np.maximum(region, g, out=region)
        boxes.append((px, y0, g.shape[1], g.shape[0]))
    return Figure(alpha, tuple(boxes), tuple(sources))


def press(
    page: Image.Image, figure: Figure, x: int, y_mid: int, ink: tuple[int, int, int]
) -> tuple[int, int, int, int]:
    """Put ``figure`` on ``page`` (RGB) in ``ink``, its left at x, centred on y_mid; its box."""
    h, w = figure.alpha.shape
    y = y_mid - h // 2
    mask = Image.fromarray(np.clip(figure.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    page.paste(Image.new("RGB", (w, h), ink), (x, y), mask)
    return x, y, w, h


class MnistHand:
    """Writes figures on a sheet with MNIST digits, as one writer (the ``_Hand`` interface of
    :mod:`ocr.synth.render`: ``draw(page, x, y_mid, text)`` returns the box written)."""

    def __init__(
        self,
        rng: random.Random,
        size: int,
        split: Split = "held_out",
        writer: Writer | None = None,
    ) -> None:
        self.rng = rng
        self.size = size
        self.split = split
        self.writer = writer or new_writer(rng, split)
        self.color = self.writer.ink
        self.sources: list[tuple[int, int]] = []
        """Every digit written so far: (digit, index into ``digits(split)[digit]``)."""

    def fork(self, rng: random.Random) -> MnistHand:
        """The same writer, drawing from ``rng``."""
        return MnistHand(rng, self.size, self.split, self.writer)

    def draw(self, page: Image.Image, x: int, y_mid: int, text: str) -> tuple[int, int, int, int]:
        """Write ``text`` starting at x, vertically centred on y_mid; return its box."""
        fig = compose(text, int(self.size * 0.8), self.rng, self.writer)
        self.sources.extend(fig.sources)
        return press(page, fig, x, y_mid, self.color)
