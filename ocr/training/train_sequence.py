"""Train the whole-figure reader shipped in ``ocr/models/figures-ctc.onnx``.

``python -m ocr.training.train_sequence [--samples N] [--epochs E] [--seed S] [--out PATH]``

Needs PyTorch and onnx at training time only (``pip install torch==2.13.0 onnx``); the
product runs the exported network with OpenCV's ``dnn`` module.

Numbers of one to five digits are rendered in every typed font and every *training*
handwriting font of :mod:`ocr.synth.fonts` (the held-out hands are never used for
training; they make the validation set). A handwritten number is drawn glyph by glyph, each
with its own size, angle and baseline, spaced from touching to wide, with a ballpoint
stroke; every number is then slanted, photographed (lower resolution, blur, noise) and
binarized with the reader's own adaptive threshold, as :func:`ocr.read` sees a figure.
Deterministic for a given seed and font set.
"""

from __future__ import annotations

import argparse
import random
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr.sequence import BLANK, HEIGHT, WIDTH, decode, normalize_figure
from ocr.synth import fonts
from ocr.training.common import Degradation, export_onnx, photograph

LENGTHS = (1, 2, 3, 4, 5)
LENGTH_WEIGHTS = (0.14, 0.26, 0.34, 0.23, 0.03)

#: The distortion and photograph of one rendered number.
FIGURE_PHOTO = Degradation(
    angle=3,
    shear=(-0.25, 0.2),
    scale_y=(0.92, 1.08),
    down=(0.45, 1.0),
    blur=(0.4, 1.4),
    contrast=(0.55, 0.9),
    noise=(2, 9),
    widen=True,
)


def _number(rng: random.Random) -> str:
    n = rng.choices(LENGTHS, LENGTH_WEIGHTS)[0]
    if n == 1:
        return str(rng.randint(0, 9))
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _draw_hand(text: str, font_path: str, rng: random.Random) -> np.ndarray:
    """A number written by hand: glyph by glyph, each jittered, spaced irregularly."""
    size = rng.randint(34, 44)
    canvas = Image.new("L", (size * (len(text) + 2) * 2, size * 3), 0)
    x = size // 2
    base = size
    spacing = rng.uniform(-0.1, 0.35)
    for ch in text:
        s = max(10, int(size * rng.uniform(0.9, 1.1)))
        font = ImageFont.truetype(font_path, s)
        left, top, right, bottom = font.getbbox(ch)
        g = Image.new("L", (int(right - left) + 12, int(bottom - top) + 12), 0)
        ImageDraw.Draw(g).text((6 - left, 6 - top), ch, font=font, fill=255)
        g = g.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, expand=True)
        dy = int(rng.uniform(-0.08, 0.08) * size)
        canvas.paste(255, (x, base - g.height // 2 + dy), g)
        x += int(g.width - 12 + (spacing + rng.uniform(-0.08, 0.08)) * size)
        x = max(x, 0)
    if rng.random() < 0.7:
        canvas = canvas.filter(ImageFilter.MaxFilter(3))
    return np.asarray(canvas)


def _draw_typed(text: str, font_path: str, rng: random.Random) -> np.ndarray:
    size = rng.randint(24, 34)
    font = ImageFont.truetype(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (int(right - left) + 40, int(bottom - top) + 40), 0)
    ImageDraw.Draw(img).text((20 - left, 20 - top), text, font=font, fill=255)
    return np.asarray(img)


def render(text: str, font_path: str, rng: random.Random, hand: bool) -> np.ndarray:
    """The ink mask (ink = 255) of ``text`` as the reader cuts a figure out of a photo."""
    arr = _draw_hand(text, font_path, rng) if hand else _draw_typed(text, font_path, rng)
    return cut(arr, rng)


def cut(arr: np.ndarray, rng: random.Random) -> np.ndarray:
    """Rendered ink (uint8, ink = 255) photographed, binarized and cut out as the reader cuts
    a figure: specks of noise dropped, sometimes a leftover speck beside it."""
    binary = photograph(arr, rng, FIGURE_PHOTO)
    n, lab, st, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n > 2:  # specks of noise go, as the reader's cluster finding drops them
        big = int(st[1:, cv2.CC_STAT_HEIGHT].max())
        keep = np.zeros(n, bool)
        keep[1:] = np.maximum(st[1:, cv2.CC_STAT_HEIGHT], st[1:, cv2.CC_STAT_WIDTH]) >= 0.2 * big
        binary = np.where(keep[lab], 255, 0).astype(np.uint8)
    if rng.random() < 0.15:  # a leftover speck beside the figure (a leader dot, dirt)
        ys, xs = np.nonzero(binary)
        if len(xs):
            r = max(1, int(0.06 * (ys.max() - ys.min() + 1)))
            x = int(xs.max() + rng.randint(3, 12)) if rng.random() < 0.5 else int(xs.min() - 8)
            y = int(ys.max() - r)
            if 0 <= x < binary.shape[1] - r and 0 <= y:
                cv2.circle(binary, (x, y), r, 255, -1)
    return binary


def _sample(args: tuple[int, bool, float, float, bool]) -> tuple[np.ndarray, str]:
    seed, held_out, mnist, more, test = args
    rng = random.Random(seed)
    if mnist and rng.random() < mnist:  # a real hand: MNIST's digits
        from ocr.synth.hands import Split
        from ocr.training import mnist as real

        text = _number(rng)
        split: Split = "held_out" if held_out else "train"
        if test:
            split = "test"
        elif not held_out and more and rng.random() < more:
            split = "more"
        ink = real.figure_ink(text, rng, split)
        return (normalize_figure(cut(ink, rng)) * 255).astype(np.uint8), text
    typed = fonts.available(fonts.TYPED + fonts.TYPED_BOLD)
    hands = fonts.available(fonts.HAND_HELD_OUT if held_out else fonts.HAND_TRAIN)
    hand = rng.random() < 0.65
    path = rng.choice(hands if hand else typed)
    text = _number(rng)
    return (normalize_figure(render(text, path, rng, hand)) * 255).astype(np.uint8), text


def build(
    n: int,
    seed: int,
    held_out: bool = False,
    mnist: float = 0.0,
    more: float = 0.0,
    test: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """``n`` rendered figures (uint8, HEIGHT x WIDTH) and their digit strings; a share
    ``mnist`` of them written with MNIST's digits (its held-out ones when ``held_out``; its
    test digits, other writers', when ``test``), a share ``more`` of those with the rest of
    MNIST's training digits (:mod:`ocr.training.mnist_more`)."""
    jobs = [(seed * 1_000_003 + i, held_out, mnist, more, test) for i in range(n)]
    with Pool(2) as pool:
        out = pool.map(_sample, jobs, 256)
    return np.stack([o[0] for o in out]), [o[1] for o in out]


def _net():  # type: ignore[no-untyped-def]
    import torch.nn as nn

    def block(i: int, o: int, k=3, p=1, s=1) -> list[nn.Module]:  # type: ignore[no-untyped-def]
        return [nn.Conv2d(i, o, k, padding=p, stride=s), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *block(1, 16, s=2),  # 16 x 96
        *block(16, 32, s=2),  # 8 x 48
        *block(32, 64),
        nn.MaxPool2d((2, 1)),  # 4 x 48
        *block(64, 96),
        nn.MaxPool2d((2, 1)),  # 2 x 48
        *block(96, 128, (2, 3), (0, 1)),  # 1 x 48
        nn.Dropout(0.15),
        nn.Conv2d(128, BLANK + 1, (1, 3), padding=(0, 1)),  # classes x 1 x 48
    )


def load_exported(net, path: Path, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Start ``net`` from a network exported by :func:`export_onnx`, whose batch norms were
    folded into its convolutions: each convolution takes the folded weights, and each batch
    norm is set to give back, on the figures ``x``, what the folded network computed (its
    scale and shift are the statistics it normalizes by), so training resumes from the same
    function."""
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    layers = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    if len(convs) != len(layers):
        raise ValueError(f"{path} has {len(convs)} convolutions, the network {len(layers)}")
    with torch.no_grad():
        for node, conv in zip(convs, layers, strict=True):
            w, b = weights[node.input[1]], weights[node.input[2]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{path}: {node.input[1]} is {w.shape}, not {conv.weight.shape}")
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
        net.eval()  # the batch norms already set give back their input
        probe = torch.from_numpy(x[:2048]).float().div(255).unsqueeze(1)
        mods = list(net)
        for i, m in enumerate(mods):
            if isinstance(m, torch.nn.BatchNorm2d):
                h = probe
                for prev in mods[:i]:
                    h = prev(h)
                mean = h.mean(dim=(0, 2, 3))
                var = h.var(dim=(0, 2, 3), unbiased=False)
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.weight.copy_((var + m.eps).sqrt())
                m.bias.copy_(mean)
    net.train()


def accuracy(net, x: np.ndarray, y: list[str]) -> float:  # type: ignore[no-untyped-def]
    """Share of figures read exactly (torch model, greedy decoding)."""
    import torch

    net.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(y), 512):
            xb = torch.from_numpy(x[i : i + 512]).float().div(255).unsqueeze(1)
            out = net(xb).squeeze(2).permute(0, 2, 1).softmax(2).numpy()
            right += sum(decode(p).digits == t for p, t in zip(out, y[i : i + 512], strict=True))
    net.train()
    return right / len(y)


def main(argv: list[str] | None = None) -> int:
    """Build the data, train with CTC loss, report held-out accuracy, export ONNX."""
    import torch

    ap = argparse.ArgumentParser(prog="python -m ocr.training.train_sequence")
    ap.add_argument("--samples", type=int, default=90_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", type=Path, help="keep the rendered data here (npz) and reuse it")
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument(
        "--mnist", type=float, default=0.35, help="share of figures written with MNIST's digits"
    )
    ap.add_argument(
        "--more",
        type=float,
        default=0.0,
        help="share of MNIST figures written with the rest of MNIST's training digits (fetched)",
    )
    ap.add_argument(
        "--init", type=Path, help="start from this exported network (e.g. the shipped one)"
    )
    ap.add_argument("--lr", type=float, default=3e-3, help="the one-cycle schedule's peak")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent.parent / "models" / "figures-ctc.onnx"
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    if args.data is not None and args.data.exists():
        d = np.load(args.data)
        x, y, vx, vy, tx, ty = d["x"], list(d["y"]), d["vx"], list(d["vy"]), d["tx"], list(d["ty"])
        mx, my = d["mx"], list(d["my"])
        x, y = x[: args.samples], y[: args.samples]
    else:
        x, y = build(args.samples, args.seed, mnist=args.mnist, more=args.more)
        vx, vy = build(3000, args.seed + 1, held_out=True)
        tx, ty = build(2000, args.seed + 2)
        mx, my = build(2000, args.seed + 3, held_out=True, mnist=1.0)
        if args.data is not None:
            arrays = {"x": x, "y": np.array(y), "vx": vx, "vy": np.array(vy), "tx": tx}
            arrays.update(ty=np.array(ty), mx=mx, my=np.array(my))
            np.savez(args.data, **arrays)  # type: ignore[arg-type]
    # figures in hands no training digit was written in: MNIST's test digits
    sx, sy = build(2000, args.seed + 5, mnist=1.0, test=True)
    print(
        f"data {len(y)} + {len(vy)} held-out-hand + {len(ty)} + {len(my)} held-out MNIST "
        f"in {time.time() - t0:.0f}s"
    )
    net = _net()
    if args.init is not None:
        load_exported(net, args.init, x)
        print(
            f"from {args.init}: train-fonts {accuracy(net, tx, ty):.4f}  held-out hands "
            f"{accuracy(net, vx, vy):.4f}  held-out MNIST {accuracy(net, mx, my):.4f}  "
            f"MNIST test {accuracy(net, sx, sy):.4f}",
            flush=True,
        )
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(y) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    ctc = torch.nn.CTCLoss(blank=BLANK, zero_infinity=True)
    gen = np.random.default_rng(args.seed)
    targets_all = [torch.tensor([int(c) for c in t]) for t in y]
    for epoch in range(args.epochs):
        order = gen.permutation(len(y))
        total = 0.0
        for b in range(len(y) // 128):
            idx = order[b * 128 : (b + 1) * 128]
            xb = torch.from_numpy(x[idx]).float().div(255).unsqueeze(1)
            logp = net(xb).squeeze(2).permute(2, 0, 1).log_softmax(2)  # T x B x C
            tg = [targets_all[i] for i in idx]
            loss = ctc(
                logp,
                torch.cat(tg),
                torch.full((len(idx),), logp.shape[0], dtype=torch.long),
                torch.tensor([len(t) for t in tg]),
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
            if b % 200 == 199:
                print(
                    f"  batch {b + 1}: loss {total / (b + 1):.4f} {time.time() - t0:.0f}s",
                    flush=True,
                )
        print(
            f"epoch {epoch + 1}: loss {total / (len(y) // 128):.4f}  "
            f"train-fonts {accuracy(net, tx, ty):.4f}  held-out hands {accuracy(net, vx, vy):.4f}  "
            f"held-out MNIST {accuracy(net, mx, my):.4f}  MNIST test {accuracy(net, sx, sy):.4f}  "
            f"{time.time() - t0:.0f}s",
            flush=True,
        )
    export_onnx(net, (HEIGHT, WIDTH), "figure", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
