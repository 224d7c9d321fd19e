"""Train the glyph recognizer shipped in ``ocr/models/digits-cnn.onnx`` (reader ``glyphs_a``).

``python -m ocr.training.train_digit_cnn [--per-font N] [--epochs E] [--seed S] [--out PATH]``

Needs PyTorch and onnx at training time only (``pip install torch==2.13.0 onnx``); the
product runs the exported network with OpenCV's ``dnn`` module. The glyphs are the same
renderings the MLP models are trained on (:func:`ocr.training.train_digits.build_glyphs`:
digits 0-9 in the typed fonts and the *training* hands, and class 10 "not a digit"),
normalized exactly as the reader normalizes a glyph. Validation uses the held-out hands
only. Deterministic for a given seed and font set.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ocr.digits import JUNK, SIZE
from ocr.training.common import export_onnx
from ocr.training.train_digits import build_glyphs


def _net():  # type: ignore[no-untyped-def]
    import torch.nn as nn

    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(1, 32),  # 14 x 14
        *block(32, 64),  # 7 x 7
        *block(64, 128),  # 3 x 3
        nn.Flatten(),
        nn.Linear(128 * 3 * 3, 128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, JUNK + 1),
    )


def _augment(x, gen):  # type: ignore[no-untyped-def]
    """Small random shifts (the glyph is centred by its box; a ragged stroke moves it)."""
    import torch

    dx, dy = (int(v) for v in gen.integers(-2, 3, 2))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def held_out_mnist(
    seed: int, split: str = "held_out", every: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """MNIST's 1,000 held-out digits drawn as the training glyphs are (never trained on);
    or, ``split`` "test", MNIST's test digits (every ``every``-th), in other writers' hands."""
    from ocr.training import mnist
    from ocr.training.train_digits import GLYPH_PHOTO

    return mnist.held_out_glyphs(seed, GLYPH_PHOTO, split, every)  # type: ignore[arg-type]


def measure(path: Path, seed: int) -> dict[str, float]:
    """An exported network's accuracy (as the reader runs it: OpenCV's ``dnn``) on MNIST's
    1,000 held-out digits and on its 10,000 test digits, drawn as in training."""
    import cv2

    net = cv2.dnn.readNetFromONNX(str(path))
    out = {}
    for name, (glyphs, labels) in (
        ("held_out", held_out_mnist(seed + 2)),
        ("test", held_out_mnist(seed + 4, "test")),
    ):
        x = np.stack(glyphs).astype(np.float32)[:, None] / 255.0
        pred = []
        for i in range(0, len(x), 1000):
            net.setInput(x[i : i + 1000])
            pred.append(net.forward().argmax(1))
        out[name] = float((np.concatenate(pred) == labels).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    """Render, train, report held-out-hand accuracy, export ONNX."""
    import torch

    ap = argparse.ArgumentParser(prog="python -m ocr.training.train_digit_cnn")
    ap.add_argument("--per-font", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument(
        "--mnist", type=int, default=4, help="drawings of each of MNIST's 4,000 train digits"
    )
    ap.add_argument(
        "--more",
        type=int,
        default=0,
        help="drawings of each of the rest of MNIST's training digits (55,000; fetched)",
    )
    ap.add_argument("--measure", type=Path, help="only measure this exported network")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20232)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent.parent / "models" / "digits-cnn.onnx"
    if args.measure is not None:
        print(measure(args.measure, args.seed))
        return 0
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    glyphs, labels = build_glyphs(args.per_font, args.seed, mnist=args.mnist, more=args.more)
    v_glyphs, v_labels = build_glyphs(max(10, args.per_font // 5), args.seed + 1, held_out=True)
    x = torch.from_numpy(np.stack(glyphs)).float().div(255).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    vx = torch.from_numpy(np.stack(v_glyphs)).float().div(255).unsqueeze(1)
    vy = torch.from_numpy(v_labels.astype(np.int64))
    m_glyphs, m_labels = held_out_mnist(args.seed + 2)
    mx = torch.from_numpy(np.stack(m_glyphs)).float().div(255).unsqueeze(1)
    my = torch.from_numpy(m_labels)
    t_glyphs, t_labels = held_out_mnist(args.seed + 4, "test", 5)
    tx = torch.from_numpy(np.stack(t_glyphs)).float().div(255).unsqueeze(1)
    ty = torch.from_numpy(t_labels)
    print(f"glyphs {len(y)} + {len(vy)} held-out-hand in {time.time() - t0:.0f}s", flush=True)
    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    batches = len(y) // 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=args.epochs * batches)
    gen = np.random.default_rng(args.seed)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.02)
    for epoch in range(args.epochs):
        order = torch.from_numpy(gen.permutation(len(y)))
        for b in range(batches):
            idx = order[b * 128 : (b + 1) * 128]
            loss = loss_fn(net(_augment(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            pred = net(vx).argmax(1)
            digits = vy != JUNK
            acc = float((pred == vy).float().mean())
            dacc = float((pred[digits] == vy[digits]).float().mean())
            macc = float((net(mx).argmax(1) == my).float().mean())
            tacc = float((net(tx).argmax(1) == ty).float().mean())
        net.train()
        print(
            f"epoch {epoch + 1}: held-out hands: all classes {acc:.4f}, digits {dacc:.4f}; "
            f"MNIST's 1,000 held-out digits {macc:.4f}, 2,000 of its test digits {tacc:.4f}  "
            f"{time.time() - t0:.0f}s",
            flush=True,
        )
    export_onnx(net, (SIZE, SIZE), "glyph", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
