"""What the training scripts share: the simulated phone photograph of rendered ink, and the
ONNX export of a trained network."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Degradation:
    """Ranges of the random distortion and photograph applied to rendered ink."""

    angle: float
    """Rotation, +- degrees."""
    shear: tuple[float, float]
    scale_y: tuple[float, float]
    down: tuple[float, float]
    """Down-scaling of the photograph (lower resolution)."""
    blur: tuple[float, float]
    contrast: tuple[float, float]
    noise: tuple[float, float]
    widen: bool = False
    """Give the slanted ink room on the right (a whole number, not one glyph)."""


def photograph(arr: np.ndarray, rng: random.Random, d: Degradation) -> np.ndarray:
    """Rendered ink (uint8, ink = 255) slanted, scaled, photographed at a lower resolution
    (blur, noise), brought back to the reading scale and binarized with the reader's own
    adaptive threshold; returns the ink mask (ink = 255), specks included."""
    h, w = arr.shape
    ang = np.deg2rad(rng.uniform(-d.angle, d.angle))
    sh = rng.uniform(*d.shear)
    sx, sy = rng.uniform(0.85, 1.15), rng.uniform(*d.scale_y)
    m = np.array(
        [[sx * np.cos(ang), -np.sin(ang) + sh, 0], [np.sin(ang), sy * np.cos(ang), 0]], np.float32
    )
    c = np.array([w / 2, h / 2], np.float32)
    m[:, 2] = c - m[:, :2] @ c
    warped = cv2.warpAffine(arr, m, (w + h // 2 if d.widen else w, h)).astype(np.float32)
    down = rng.uniform(*d.down)
    small = cv2.resize(warped, None, fx=down, fy=down, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), rng.uniform(*d.blur))
    gray = 250 - small * rng.uniform(*d.contrast)
    gray += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(*d.noise), gray.shape)
    up = 1.21 / down
    gray = cv2.resize(
        np.clip(gray, 0, 255).astype(np.uint8), None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC
    )
    pad = cv2.copyMakeBorder(gray, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=250)
    return cv2.adaptiveThreshold(
        pad, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, 31, 15
    )


def export_onnx(net, shape: tuple[int, int], input_name: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    """Write a trained torch network (eval mode) as ONNX with a free batch size, for
    OpenCV's ``dnn`` module; ``shape`` is the input's (height, width), one channel."""
    import torch

    net.eval()
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, *shape),),
        str(out),
        input_names=[input_name],
        output_names=["logits"],
        dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13,
        dynamo=False,
    )
    print(f"wrote {out} ({out.stat().st_size} bytes)")
