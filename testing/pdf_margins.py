"""Ink outside a PDF's printable area: every page rendered (pdftoppm) and its edges looked at.

A dossier is printed and filed: a table that runs to 1 mm from the paper's edge is clipped by
a printer. The page's margins are the dossier's (templates/dossier.css); running headers and
page numbers sit inside them, so a strip a few millimetres narrower than each margin must be
blank on every page.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MM_PER_INCH = 25.4
BLANK_MM = {"top": 8.0, "right": 12.0, "bottom": 8.0, "left": 15.0}
"""How much of each edge must be blank (the CSS margins are 20, 16, 18 and 20 mm)."""


@dataclass(frozen=True)
class Overflow:
    page: int
    """1-based page number."""
    edge: str
    """top, right, bottom or left."""
    depth_mm: float
    """How close to the paper's edge the ink comes, in millimetres."""


def overflows(pdf: bytes | Path, dpi: int = 60) -> list[Overflow]:
    """Where ink lies in the blank strips (:data:`BLANK_MM`) of any page."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes())
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-gray", "-png", str(src), str(Path(tmp) / "p")],
            check=True,
            capture_output=True,
        )
        pages = sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1]))
        out: list[Overflow] = []
        for n, path in enumerate(pages, 1):
            ink = np.asarray(Image.open(path).convert("L")) < 200
            h, w = ink.shape
            px = dpi / MM_PER_INCH
            strips = {
                "top": ink[: int(BLANK_MM["top"] * px), :],
                "bottom": ink[h - int(BLANK_MM["bottom"] * px) :, :],
                "left": ink[:, : int(BLANK_MM["left"] * px)],
                "right": ink[:, w - int(BLANK_MM["right"] * px) :],
            }
            for edge, strip in strips.items():
                if not strip.any():
                    continue
                rows, cols = np.nonzero(strip)
                nearest = {
                    "top": rows.min(),
                    "bottom": strip.shape[0] - 1 - rows.max(),
                    "left": cols.min(),
                    "right": strip.shape[1] - 1 - cols.max(),
                }[edge]
                out.append(Overflow(n, edge, round(float(nearest) / px, 1)))
        return out
