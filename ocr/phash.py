"""Perceptual hash of a protocol photo, for grouping several photos of one protocol.

The sheet is found and flattened first (as for reading), so two photos of the same
sheet taken from different angles hash alike. The hash is the classic DCT pHash: the
flattened sheet reduced to 32x32, its 2-D DCT, and one bit per low-frequency
coefficient (8x8, DC excluded from the median) telling whether it is above the median.
64 bits, as 16 hex digits; compare with :func:`hash_distance` (Hamming distance).

Limits: sheets of one form printed in one layout look alike at 32x32, so a small
distance says "same layout and very likely the same sheet", not "same figures";
combine it with the precinct number and the figures read.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr.prepare import ImageProblem, decode, prepare


def perceptual_hash(image: bytes) -> str | None:
    """64-bit DCT pHash (16 hex digits) of the flattened sheet, or None if unreadable."""
    decoded = decode(image)
    if isinstance(decoded, ImageProblem):
        return None
    prep = prepare(decoded[0])
    if isinstance(prep, ImageProblem):
        return None
    small = cv2.resize(prep.gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    dct = cv2.dct(small)[:8, :8]
    coeffs = dct.ravel()
    median = float(np.median(coeffs[1:]))
    bits = (coeffs > median).astype(np.uint8)
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:016x}"


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two hashes from :func:`perceptual_hash` (0..64)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
