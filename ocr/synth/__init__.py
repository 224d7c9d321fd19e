"""Synthetic protocol photos with their truth (layouts, fonts, real hands, photographic damage)."""

from __future__ import annotations

from ocr.synth.generate import Sample, make_figures, make_sample, printed_order
from ocr.synth.photo import TIERS
from ocr.synth.render import HANDS, LAYOUTS, LAYOUTS_ALL, SCRIPTS

__all__ = [
    "HANDS",
    "LAYOUTS",
    "LAYOUTS_ALL",
    "SCRIPTS",
    "TIERS",
    "Sample",
    "make_figures",
    "make_sample",
    "printed_order",
]
