"""Train the second glyph reader (an MLP) shipped in ``ocr/models/digits-mlp-b.yml.gz``,
and render the glyphs both glyph readers are trained on (:func:`build_glyphs`).

``python -m ocr.training.train_digits [--per-font N] [--seed S] [--out PATH]``

Digits 0-9 are rendered in every typed font and every *training* handwriting font of
``ocr.synth.fonts`` (the held-out hands are never used), each with random size,
rotation, shear, stroke width, blur, noise and threshold, then binarized and normalized
exactly as the reader does. Class 10 ("not a digit") gets Cyrillic letters, specks,
dashes, digit fragments and pairs of touching digits. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import gzip
import random
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr.digits import JUNK, features_b, normalize_glyph
from ocr.synth import fonts
from ocr.training.common import Degradation, photograph

LETTERS = "абвгдежзиклмнопрстуфхцчшыьэюяәғқңөұүһі(),.-№«»"

#: The distortion and photograph of one rendered glyph.
GLYPH_PHOTO = Degradation(
    angle=10,
    shear=(-0.25, 0.25),
    scale_y=(0.9, 1.1),
    down=(0.55, 1.0),
    blur=(0.4, 1.3),
    contrast=(0.6, 0.9),
    noise=(2, 8),
)


def _render(text: str, font_path: str, rng: random.Random, hand: bool = False) -> np.ndarray:
    """One glyph image as the reader sees it: drawn, moved, photographed, re-binarized
    with the reader's own adaptive threshold; returns the ink mask (ink = 255)."""
    size = rng.randint(34, 44) if hand else rng.randint(24, 34)
    font = ImageFont.truetype(font_path, size)
    left, t, r, b = font.getbbox(text)
    img = Image.new("L", (int(r - left) + 40, int(b - t) + 40), 0)
    ImageDraw.Draw(img).text((20 - left, 20 - t), text, font=font, fill=255)
    if hand and rng.random() < 0.7:
        img = img.filter(ImageFilter.MaxFilter(3))  # ballpoint, as the generator draws it
    binary = photograph(np.asarray(img), rng, GLYPH_PHOTO)
    # keep the glyph, drop specks of noise, as the reader's segmentation does
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n > 2:
        big = st[1:, cv2.CC_STAT_AREA].max()
        keep = np.zeros(n, bool)
        keep[1:] = st[1:, cv2.CC_STAT_AREA] >= 0.12 * big
        binary = np.where(keep[lab], 255, 0).astype(np.uint8)
    if rng.random() < 0.1:  # the crop clipped a stroke, or caught a bit of a neighbour
        hh, ww = binary.shape
        if rng.random() < 0.5:
            binary[:, : int(ww * rng.uniform(0.0, 0.3))] = 0
        else:
            binary[: int(hh * rng.uniform(0.0, 0.3)), :] = 0
    return binary


def build_dataset(per_font: int, seed: int, mnist: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MLP features and labels for every training font (and ``mnist`` drawings of each of
    MNIST's train digits)."""
    glyphs, labels = build_glyphs(per_font, seed, mnist=mnist)
    return features_b(glyphs), labels


def build_glyphs(
    per_font: int, seed: int, held_out: bool = False, mnist: int = 0, more: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Normalized 28x28 glyphs and their labels (0-9, ``JUNK``) for every training font
    (``held_out``: the held-out hands instead, and no typed fonts, for validation), and
    ``mnist`` drawings of each of MNIST's 4,000 ``train`` digits by random writers
    (:mod:`ocr.training.mnist`), with their share of "not a digit" in the same hands; and
    ``more`` drawings of each of the rest of MNIST's training digits (55,000 more, in about
    250 hands: :mod:`ocr.training.mnist_more`)."""
    rng = random.Random(seed)
    typed_only = fonts.available(fonts.TYPED + fonts.TYPED_BOLD)
    typed_only += fonts.available(["/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"])
    hands = fonts.available(fonts.HAND_HELD_OUT if held_out else fonts.HAND_TRAIN)
    if held_out:
        typed_only = typed_only[:1]  # the "not a digit" letters still need a typed font
    font_list = hands if held_out else typed_only + hands
    glyphs, labels = [], []
    for path in font_list:
        hand = path in hands
        for d in range(10):
            for _ in range(per_font * (2 if hand else 1)):
                glyphs.append(normalize_glyph(_render(str(d), path, rng, hand)))
                labels.append(d)
    from ocr.synth import hands as real_hands

    real_splits: tuple[tuple[real_hands.Split, int], ...] = (("train", mnist), ("more", more))
    for split, drawings in real_splits:
        if not drawings or held_out:
            continue
        from ocr.training import mnist as real

        n_before = len(glyphs)
        for d, imgs in real_hands.digits(split).items():
            for i in range(len(imgs)):
                for _ in range(drawings):
                    glyphs.append(real.glyph(d, i, rng, GLYPH_PHOTO, split))
                    labels.append(d)
        for _ in range((len(glyphs) - n_before) // 6):
            glyphs.append(real.junk(rng, GLYPH_PHOTO, split))
            labels.append(JUNK)
    n_junk = len(glyphs) // 6
    for _ in range(n_junk):
        kind = rng.random()
        path = rng.choice(font_list)
        if kind < 0.45:
            g = _render(
                rng.choice(LETTERS),
                rng.choice(typed_only + fonts.available(fonts.HAND_CYRILLIC)),
                rng,
            )
        elif kind < 0.75:
            g = _render(str(rng.randint(10, 99)), path, rng, path in hands)  # two touching digits
            g = cv2.dilate(g, np.ones((1, 3), np.uint8))
        else:
            g = _render(str(rng.randint(0, 9)), path, rng, path in hands)  # a fragment of a digit
            h, w = g.shape
            if rng.random() < 0.5:
                g = g[: max(1, int(h * rng.uniform(0.25, 0.5))), :]
            else:
                g = g[:, : max(1, int(w * rng.uniform(0.25, 0.45)))]
        glyphs.append(normalize_glyph(g))
        labels.append(JUNK)
    return glyphs, np.asarray(labels, np.int32)


def train(x: np.ndarray, y: np.ndarray, seed: int, hidden: int = 128) -> cv2.ml.ANN_MLP:
    """Train an MLP (features -> hidden -> 11), symmetric sigmoid, RPROP."""
    cv2.setRNGSeed(seed)
    mlp = cv2.ml.ANN_MLP_create()  # type: ignore[attr-defined]  # missing from stubs
    mlp.setLayerSizes(np.array([x.shape[1], hidden, 11], np.int32))
    mlp.setActivationFunction(cv2.ml.ANN_MLP_SIGMOID_SYM, 1.0, 1.0)
    mlp.setTrainMethod(cv2.ml.ANN_MLP_RPROP)
    mlp.setTermCriteria((cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, 300, 1e-5))
    target = np.full((len(y), 11), -1.0, np.float32)
    target[np.arange(len(y)), y] = 1.0
    mlp.train(x, cv2.ml.ROW_SAMPLE, target)
    return mlp


def main(argv: list[str] | None = None) -> int:
    """Build the dataset, train, report held-out accuracy, write the gzipped model."""
    ap = argparse.ArgumentParser(prog="python -m ocr.training.train_digits")
    ap.add_argument("--per-font", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20232)
    ap.add_argument(
        "--mnist", type=int, default=6, help="drawings of each of MNIST's 4,000 train digits"
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent.parent / "models" / "digits-mlp-b.yml.gz"
    seed = args.seed
    x, y = build_dataset(args.per_font, seed, args.mnist)
    idx = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * 0.9)
    tr, te = idx[:cut], idx[cut:]
    mlp = train(x[tr], y[tr], seed, 128)
    _, scores = mlp.predict(x[te])
    acc = float((scores.argmax(axis=1) == y[te]).mean())
    print(f"samples {len(y)}  validation accuracy {acc:.4f}")
    from ocr.training import mnist as real

    m_glyphs, m_labels = real.held_out_glyphs(seed + 2, GLYPH_PHOTO)
    _, m_scores = mlp.predict(features_b(m_glyphs))
    m_acc = float((m_scores.argmax(axis=1) == m_labels).mean())
    print(f"MNIST's 1,000 held-out digits {m_acc:.4f}")
    with tempfile.NamedTemporaryFile(suffix=".yml") as tmp:
        mlp.save(tmp.name)
        data = Path(tmp.name).read_bytes()
    out.write_bytes(gzip.compress(data, mtime=0))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
