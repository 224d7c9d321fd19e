"""Synthetic protocol photos with their truth, for tests, the demo, the dossier and the benchmark.

``python -m ocr.synth OUT_DIR [--count N] [--seed S]`` writes ``<name>.png|jpg`` and
``<name>.truth.json`` side by side.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ocr.forms import Form, load_form
from ocr.synth import fonts
from ocr.synth.photo import photograph
from ocr.synth.render import SheetSpec, render_sheet


@dataclass(frozen=True)
class Sample:
    """One synthetic protocol image and what is written on it."""

    name: str
    """File stem, e.g. ``photo-typed-table-0003``."""
    image: bytes
    """Encoded image (PNG or JPEG)."""
    ext: str
    """``png`` or ``jpg``."""
    truth: dict[str, object]
    """``form``, ``layout``, ``script``, ``tier``, ``lang``, ``words``, ``adds_up``, ``figures``,
    ``hand``, ``hand_held_out``, ``precinct`` (the number printed), ``header`` (its wording)."""


def make_figures(form: Form, rng: random.Random, adds_up: bool = True) -> dict[str, int]:
    """Plausible figures for ``form``; when ``adds_up`` is False one control relation fails."""
    on_list = rng.randint(400, 3200)
    issued = int(on_list * rng.uniform(0.35, 0.9))
    cancelled = rng.randint(5, 400)
    received = issued + cancelled
    voted = issued - rng.randint(0, 3)
    invalid = rng.randint(0, 40)
    against = rng.randint(0, 60)
    rest = voted - invalid - against
    groups = form.groups
    contestants = next(iter(groups.values()))
    weights = [rng.random() ** 2 for _ in contestants]
    weights[0] += 2.0
    total_w = sum(weights)
    shares = [int(rest * wt / total_w) for wt in weights]
    shares[0] += rest - sum(shares)
    figs = {
        "voters_on_list": on_list,
        "ballots_received": received,
        "ballots_issued": issued,
        "voters_voted": voted,
        "ballots_invalid": invalid,
        "ballots_cancelled": cancelled,
        "against_all": against,
    }
    figs.update(zip(contestants, shares, strict=True))
    if not adds_up:
        # a protocol that does not add up: inflate the leading contestant or the ballots received
        if rng.random() < 0.5:
            figs[contestants[0]] += rng.randint(50, 400)
        else:
            figs["ballots_received"] += rng.randint(20, 200)
    for key in form.keys:
        figs.setdefault(key, rng.randint(0, 100))
    return figs


def make_sample(
    index: int,
    seed: int,
    *,
    form_id: str = "kz-mazhilis-party-list-2023",
    tier: str | None = None,
    script: str | None = None,
    layout: str | None = None,
    adds_up: bool | None = None,
    precinct: int | None = None,
    header: str = "ru",
    spaced: bool = False,
) -> Sample:
    """Deterministic sample ``index`` of the stream seeded by ``seed``; unset options are drawn.

    ``precinct`` is the number printed in the precinct line (``header``: its wording, a key
    of :data:`ocr.synth.render.HEADERS`; ``spaced``: its digits spaced apart); unset, the
    number is drawn from the stream. Either way the rest of the sheet is the same."""
    rng = random.Random(f"{seed}:{index}")
    form = load_form(form_id)
    tier = tier or rng.choice(("clean", "photo", "photo", "hard"))
    script = script or rng.choice(("typed", "handwritten"))
    layout = layout or rng.choice(("table", "leaders", "bilingual"))
    if adds_up is None:
        adds_up = rng.random() > 0.15
    lang = rng.choice(("ru", "kk")) if layout != "bilingual" else "ru"
    words = layout != "leaders" and rng.random() < 0.85
    figures = make_figures(form, rng, adds_up)
    sheet = render_sheet(
        SheetSpec(form, figures, layout, script, lang, words, precinct, header, spaced), rng
    )
    hand_font = sheet.info.get("hand_font")
    image = photograph(sheet, tier, rng)
    ext = "png" if tier == "clean" else "jpg"
    truth = {
        "form": form.id,
        "layout": layout,
        "script": script,
        "tier": tier,
        "lang": lang,
        "words": words,
        "adds_up": adds_up,
        "figures": figures,
        # the handwriting font, and whether the digit readers were trained on it
        "hand": Path(hand_font).stem if hand_font else None,
        "hand_held_out": hand_font in fonts.HAND_HELD_OUT if hand_font else None,
        # the precinct number printed on the sheet (None: no precinct line), and its wording
        "precinct": sheet.info.get("precinct"),
        "header": header,
    }
    return Sample(f"{tier}-{script}-{layout}-{index:04d}", image, ext, truth)
