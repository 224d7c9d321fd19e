"""Real hands (MNIST): the fixed split, and figures composed of the digits asked for."""

from __future__ import annotations

import gzip
import hashlib
import random
from importlib import resources

import cv2
import numpy as np
import pytest
from PIL import Image

from ocr.synth import hands


def _raw() -> tuple[np.ndarray, np.ndarray]:
    """The vendored file read on its own: images (N x 784 uint8) and labels."""
    path = resources.files("ocr.synth").joinpath("data", "mnist_5k.csv.gz")
    rows = [
        [int(v) for v in line.split(",")]
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
    ]
    arr = np.array(rows, np.int64)
    return arr[:, :-1].astype(np.uint8), arr[:, -1]


def test_vendored_file_is_the_documented_one() -> None:
    data = resources.files("ocr.synth").joinpath("data", "mnist_5k.csv.gz").read_bytes()
    readme = resources.files("ocr.synth").joinpath("data", "README.md").read_text("utf-8")
    assert hashlib.sha256(data).hexdigest() in readme
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme and "Cortes" in readme


def test_split_is_disjoint_4000_train_1000_held_out_100_per_digit() -> None:
    train, held = hands.digits("train"), hands.digits("held_out")
    assert sorted(train) == sorted(held) == list(range(10))
    assert all(len(held[d]) == 100 for d in range(10))
    assert all(len(train[d]) == 400 for d in range(10))
    train_bytes = {img.tobytes() for d in train for img in train[d]}
    held_bytes = {img.tobytes() for d in held for img in held[d]}
    assert len(train_bytes) == 4000 and len(held_bytes) == 1000
    assert not train_bytes & held_bytes
    assert all(img.shape == (28, 28) and img.dtype == np.uint8 for img in held[3])


def test_split_follows_the_documented_rule() -> None:
    """Held out: per digit, the 100 images with the smallest SHA-256 of their pixel bytes."""
    images, labels = _raw()
    expected: set[int] = set()
    for d in range(10):
        rows = [i for i in range(len(labels)) if labels[i] == d]
        rows.sort(key=lambda i: hashlib.sha256(images[i].tobytes()).hexdigest())
        expected.update(rows[:100])
    assert hands.held_out_rows() == frozenset(expected)
    held = hands.digits("held_out")
    for d in range(10):
        want = {images[i].tobytes() for i in expected if labels[i] == d}
        assert {img.tobytes() for img in held[d]} == want


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError):
        hands.digits("validation")  # type: ignore[arg-type]


def _deskewed(img: np.ndarray) -> np.ndarray:
    """A digit crop centred in 28 x 28 (20 x 20 box), its slant removed: for nearest neighbours."""
    ys, xs = np.nonzero(img > 0.25 * img.max())
    crop: np.ndarray = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    m = cv2.moments(crop)
    if abs(m["mu02"]) > 1e-3:
        skew = m["mu11"] / m["mu02"]
        h, w = crop.shape
        pad = int(abs(skew) * h) + 2
        crop = np.pad(crop, ((0, 0), (pad, pad)))
        mat = np.array([[1, skew, -skew * h / 2], [0, 1, 0]], np.float32)
        crop = cv2.warpAffine(crop, mat, (crop.shape[1], h))
        ys, xs = np.nonzero(crop > 0.25 * crop.max())
        crop = crop[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    k = 20.0 / max(h, w)
    small = cv2.resize(crop, (max(1, round(w * k)), max(1, round(h * k))))
    out = np.zeros((28, 28), np.float32)
    y0, x0 = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    out[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    out -= out.mean()
    return out / (np.linalg.norm(out) + 1e-6)


def test_composed_figures_are_the_digits_asked_for() -> None:
    """Each digit of a composed figure comes from its own class of held-out images, and a
    nearest-neighbour reader trained on the train split reads the composed ink as that digit
    (not a copy check: the ink is sheared, scaled, re-stroked)."""
    train = hands.digits("train")
    held = hands.digits("held_out")
    refs = np.stack([_deskewed(img).ravel() for d in range(10) for img in train[d]])
    ref_labels = np.repeat(np.arange(10), 400)
    right = total = 0
    for seed in range(30):
        rng = random.Random(seed)
        text = "".join(str(rng.randrange(10)) for _ in range(rng.randint(1, 5)))
        writer = hands.new_writer(rng)
        fig = hands.compose(text, rng.randint(26, 36), rng, writer)
        assert [d for d, _ in fig.sources] == [int(c) for c in text]
        assert len(fig.boxes) == len(text)
        assert all(0 <= i < 100 for _, i in fig.sources)
        assert [b[0] for b in fig.boxes] == sorted(b[0] for b in fig.boxes)
        for (x, y, w, h), (d, i) in zip(fig.boxes, fig.sources, strict=True):
            assert held[d][i].shape == (28, 28)
            crop = fig.alpha[y : y + h, x : x + w]
            assert crop.max() > 0.5  # ink, anti-aliased: values between 0 and 1 too
            sims = refs @ _deskewed(crop).ravel()
            votes = ref_labels[np.argsort(sims)[-5:]]
            right += int(np.bincount(votes, minlength=10).argmax() == d)
            total += 1
        assert fig.alpha.min() >= 0.0 and fig.alpha.max() <= 1.0
        assert ((fig.alpha > 0.05) & (fig.alpha < 0.95)).any()
    assert total > 60 and right / total >= 0.8, (right, total)


def test_a_hand_on_the_page_writes_held_out_digits_in_its_ink() -> None:
    page = Image.new("RGB", (400, 100), (255, 255, 255))
    hand = hands.MnistHand(random.Random(3), 40)
    x, y, w, h = hand.draw(page, 20, 50, "1537")
    assert hand.split == "held_out" and [d for d, _ in hand.sources] == [1, 5, 3, 7]
    assert 20 <= h <= 48 and 40 <= w <= 200
    px = np.asarray(page).astype(int)
    inked = px.sum(axis=2) < 3 * 200
    inside = px[y : y + h, x : x + w]
    assert inked[y : y + h, x : x + w].sum() > 50
    assert inked.sum() == inked[y : y + h, x : x + w].sum()  # all of it inside its box
    darkest = inside.reshape(-1, 3)[inside.sum(axis=2).argmin()]
    ink = np.array(hand.color)
    assert np.abs(darkest - ink).max() <= 60  # the ink's colour, not grey
    held = {img.tobytes() for imgs in hands.digits("held_out").values() for img in imgs}
    pool = hands.digits("held_out")
    assert all(pool[d][i].tobytes() in held for d, i in hand.sources)


def test_composing_is_deterministic_per_seed() -> None:
    def one(seed: int) -> np.ndarray:
        rng = random.Random(seed)
        return hands.compose("2024", 32, rng, hands.new_writer(rng)).alpha

    assert np.array_equal(one(5), one(5))
    assert not np.array_equal(one(5), one(6))


def test_train_writer_uses_train_digits_only() -> None:
    rng = random.Random(1)
    writer = hands.new_writer(rng, "train")
    fig = hands.compose("0123456789", 30, rng, writer)
    assert writer.split == "train" and all(0 <= i < 400 for _, i in fig.sources)
