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
from ocr.synth.hands import Split
from ocr.synth.photo import photograph
from ocr.synth.render import HANDS, LAYOUTS, SheetSpec, render_sheet


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
    ``hand``, ``hand_held_out``, ``precinct`` (the number printed), ``header`` (its wording);
    with any of the newer options of :func:`make_sample` also ``order`` (the keys in printed
    order; absent, the form's order), ``against_all_last``, ``shuffled`` and, on a
    ``two-column`` sheet, ``fill``."""


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
    layouts: tuple[str, ...] = LAYOUTS,
    hand: str = "font",
    against_all_last: bool = False,
    shuffle_parties: bool = False,
    hand_split: Split = "held_out",
) -> Sample:
    """Deterministic sample ``index`` of the stream seeded by ``seed``; unset options are drawn.

    ``precinct`` is the number printed in the precinct line (``header``: its wording, a key
    of :data:`ocr.synth.render.HEADERS`; ``spaced``: its digits spaced apart); unset, the
    number is drawn from the stream. Either way the rest of the sheet is the same.

    The newer options (their defaults draw exactly the samples drawn before them):
    ``layouts``, the layouts an unset ``layout`` is drawn from (:data:`LAYOUTS_ALL`: the
    ``stacked``, ``two-column`` and ``boxes`` ones too); ``hand="mnist"``, handwritten
    figures in real hands (MNIST digits held out from training; number words still in a
    handwriting font); ``against_all_last``, "Против всех" printed after the contestants;
    ``shuffle_parties``, the contestants in a random order (its own stream: the rest of the
    sheet is drawn as without it); ``hand_split``, with ``hand="mnist"``, whose digits write:
    ``held_out`` (MNIST's 1,000 shipped digits held out from training, by writers whose other
    digits trained the networks) or ``test`` (MNIST's test digits, by writers none of whose
    digits trained them: :mod:`ocr.training.mnist_more`, fetched at training time)."""
    if hand not in HANDS:
        raise ValueError(f"hand must be one of {HANDS}, not {hand!r}")
    rng = random.Random(f"{seed}:{index}")
    form = load_form(form_id)
    tier = tier or rng.choice(("clean", "photo", "photo", "hard"))
    script = script or rng.choice(("typed", "handwritten"))
    layout = layout or rng.choice(layouts)
    if adds_up is None:
        adds_up = rng.random() > 0.15
    lang = rng.choice(("ru", "kk")) if layout != "bilingual" else "ru"
    words = layout != "leaders" and rng.random() < 0.85
    figures = make_figures(form, rng, adds_up)
    extended = (
        layouts != LAYOUTS
        or layout not in LAYOUTS
        or hand != "font"
        or against_all_last
        or shuffle_parties
    )
    order = printed_order(
        form, against_all_last, random.Random(f"{seed}:{index}:order") if shuffle_parties else None
    )
    fill = random.Random(f"{seed}:{index}:fill").choice(("columns", "rows"))
    spec = SheetSpec(
        form, figures, layout, script, lang, words, precinct, header, spaced,
        order=order if extended else None, hand=hand, fill=fill, hand_split=hand_split,
    )  # fmt: skip
    sheet = render_sheet(spec, rng)
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
    if sheet.info.get("hand") == "mnist":
        # real hands: MNIST digits, held out from every training
        truth["hand"] = "mnist"
        truth["hand_held_out"] = True
        if hand_split != "held_out":
            truth["hand_split"] = hand_split
    if extended:
        truth["order"] = sheet.info["order"]
        truth["against_all_last"] = against_all_last
        truth["shuffled"] = shuffle_parties
        if layout == "two-column":
            truth["fill"] = fill
    return Sample(f"{tier}-{script}-{layout}-{index:04d}", image, ext, truth)


def printed_order(
    form: Form, against_all_last: bool = False, shuffle: random.Random | None = None
) -> tuple[str, ...]:
    """The form's keys in a printed order: its contestants shuffled by ``shuffle`` (when
    given), and "against all" moved after them (``against_all_last``)."""
    keys = list(form.keys)
    contestants = [k for group in form.groups.values() for k in group]
    if shuffle is not None:
        mixed = contestants[:]
        shuffle.shuffle(mixed)
        slots = [i for i, k in enumerate(keys) if k in contestants]
        for i, k in zip(slots, mixed, strict=True):
            keys[i] = k
    if against_all_last and "against_all" in keys:
        keys.remove("against_all")
        last = max(i for i, k in enumerate(keys) if k in contestants) if contestants else -1
        keys.insert(last + 1, "against_all")
    return tuple(keys)
