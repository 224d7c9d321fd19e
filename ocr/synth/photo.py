"""Photograph a flat sheet synthetically: perspective, rotation, light, shadow, blur,
noise, JPEG."""

from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image

TIERS = ("clean", "photo", "hard")


def photograph(sheet: Image.Image, tier: str, rng: random.Random) -> bytes:
    """Return encoded image bytes (PNG for ``clean`` scans, JPEG for photos) of ``sheet``."""
    src = cv2.cvtColor(np.asarray(sheet), cv2.COLOR_RGB2BGR)
    nrng = np.random.default_rng(rng.getrandbits(32))
    h, w = src.shape[:2]
    if tier == "clean":
        angle = rng.uniform(-0.6, 0.6)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        out = cv2.warpAffine(src, m, (w, h), borderValue=(255, 255, 255))
        out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        out = np.clip(out.astype(np.float32) + nrng.normal(0, 2.0, out.shape), 0, 255).astype(
            np.uint8
        )
        _, buf = cv2.imencode(".png", out)
        return bytes(buf)
    hard = tier == "hard"
    scale = rng.uniform(1.35, 1.6) if not hard else rng.uniform(1.1, 1.35)
    bw, bh = int(w * 1.3), int(h * 1.22)
    bg_color = np.array(
        [rng.randint(60, 170), rng.randint(60, 150), rng.randint(40, 130)], np.float32
    )
    bg = np.ones((bh, bw, 3), np.float32) * bg_color
    bg += nrng.normal(0, 12, (bh, bw, 1)).astype(np.float32)
    jit = 0.05 if not hard else 0.09
    cx, cy = bw / 2, bh / 2
    angle = np.deg2rad(rng.uniform(-5, 5) if not hard else rng.uniform(-12, 12))
    corners = np.array(
        [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32
    )
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    dst = corners @ rot.T * 0.86
    dst += np.array(
        [[rng.uniform(-jit, jit) * w, rng.uniform(-jit, jit) * h] for _ in range(4)], np.float32
    )
    dst += np.array([cx, cy], np.float32)
    srcq = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    mat = cv2.getPerspectiveTransform(srcq, dst.astype(np.float32))
    warped = cv2.warpPerspective(
        src,
        mat,
        (bw, bh),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), mat, (bw, bh))
    img = bg * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]
    # uneven light: a linear gradient and a soft vignette
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    gx, gy = rng.uniform(-1, 1), rng.uniform(-1, 1)
    light = 1.0 - (0.25 if not hard else 0.4) * (
        (gx * (xx / bw - 0.5) + gy * (yy / bh - 0.5)) + 0.5
    ) * rng.uniform(0.4, 1)
    r2 = ((xx - cx) / bw) ** 2 + ((yy - cy) / bh) ** 2
    light *= 1.0 - 0.35 * r2
    img *= light[..., None]
    if hard or rng.random() < 0.3:
        shadow: np.ndarray = np.zeros((bh, bw), np.float32)
        pts = np.array([[rng.randint(0, bw), rng.randint(0, bh)] for _ in range(4)], np.int32)
        pts[0] = [0, rng.randint(0, bh)]
        cv2.fillPoly(shadow, [cv2.convexHull(pts)], 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), 25)
        img *= (1 - (rng.uniform(0.25, 0.45) if hard else rng.uniform(0.15, 0.3)) * shadow)[
            ..., None
        ]
    # the warm tint of indoor light
    img *= np.array([rng.uniform(0.85, 1.0), rng.uniform(0.92, 1.0), 1.0], np.float32)
    sigma = rng.uniform(0.5, 1.0) if not hard else rng.uniform(0.9, 1.5)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += np.asarray(nrng.normal(0, 4 if not hard else 7, img.shape), np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    target = int(max(bw, bh) * scale)
    factor = target / max(bw, bh)
    img = cv2.resize(
        img,
        (int(bw * factor), int(bh * factor)),
        interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC,
    )
    quality = rng.randint(72, 88) if not hard else rng.randint(55, 70)
    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return bytes(buf)
