"""Synthetic protocol photos with their truth (layouts, fonts, photographic damage)."""

from __future__ import annotations

from ocr.synth.generate import Sample, make_figures, make_sample
from ocr.synth.photo import TIERS
from ocr.synth.render import LAYOUTS, SCRIPTS

__all__ = ["LAYOUTS", "SCRIPTS", "TIERS", "Sample", "make_figures", "make_sample"]
