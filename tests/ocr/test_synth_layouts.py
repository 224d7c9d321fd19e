"""The generator's newer layouts, row orders and real hands; its default draw unchanged."""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocr import load_form
from ocr.synth import LAYOUTS_ALL, make_figures, make_sample, printed_order
from ocr.synth.hands import digits
from ocr.synth.layouts import NEW_LAYOUTS
from ocr.synth.render import SheetSpec, render_sheet

MAZHILIS = "kz-mazhilis-party-list-2023"


def _drawn(monkeypatch, at: tuple[int, int], options: dict[str, object]) -> str:  # type: ignore[no-untyped-def]
    """A fingerprint of what the generator decides for a sample: the sheet it draws (its
    pixels), how it is photographed (the tier, and the random state before and after: the
    same draws), and its truth. Not the photo's bytes: OpenCV draws them, and its versions
    differ in the last bits (4.14 blurred and warped the same sheet into other bytes)."""
    import ocr.synth.generate as generate

    seen: list[bytes] = []
    photograph = generate.photograph

    def recorded(sheet, tier, rng):  # type: ignore[no-untyped-def]
        before = repr(rng.getstate())
        out = photograph(sheet, tier, rng)
        seen.append(np.asarray(sheet).tobytes() + f"{tier}{before}{rng.getstate()!r}".encode())
        return out

    monkeypatch.setattr(generate, "photograph", recorded)
    s = make_sample(*at, **options)  # type: ignore[arg-type]
    assert len(seen) == 1 and "order" not in s.truth
    h = hashlib.sha256(seen[0])
    h.update(json.dumps(s.truth, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


#: Samples as the generator drew them before the newer layouts and hands (commit 3e98e78;
#: fingerprints made by that commit's generator): the same calls must keep drawing the same
#: sheets, photographs and truth, or readings pinned on these seeds elsewhere in the tests
#: stop meaning what they say.
BEFORE = [
    ((0, 1), {}, "7cd26b6ddc59d3ec"),
    ((3, 1), {}, "1dd72f8eec4fd788"),
    ((5, 7), {}, "a10f53fd7740802b"),
    ((2, 11), {"tier": "clean", "script": "handwritten", "layout": "table"}, "c099716b7f19a968"),
    ((4, 9), {"tier": "clean", "script": "typed", "layout": "leaders"}, "ea926d1f9049a58f"),
    (
        (1, 3),
        {
            "tier": "clean",
            "script": "handwritten",
            "layout": "bilingual",
            "precinct": 495,
            "header": "kk",
        },
        "b8105a27cc1506c6",
    ),
    ((6, 2), {"form_id": "kz-presidential-2022", "tier": "photo"}, "7f834b9ad1a8ec65"),
]


@pytest.mark.parametrize(("at", "options", "expected"), BEFORE)
def test_default_draw_is_unchanged(
    at: tuple[int, int], options: dict[str, object], expected: str, monkeypatch
) -> None:
    assert _drawn(monkeypatch, at, options) == expected


def test_default_sheet_render_is_unchanged() -> None:
    form = load_form(MAZHILIS)
    figures = make_figures(form, random.Random(1))
    sheet = render_sheet(SheetSpec(form, figures, "table", "typed", "ru", True), random.Random(2))
    assert hashlib.sha256(sheet.tobytes()).hexdigest()[:16] == "638f0a9de565aa1d"


def _sheet(
    layout: str,
    script: str = "typed",
    hand: str = "font",
    *,
    lang: str = "ru",
    words: bool = True,
    order: tuple[str, ...] | None = None,
    fill: str = "columns",
    form_id: str = MAZHILIS,
    seed: int = 1,
) -> tuple[Image.Image, SheetSpec]:
    form = load_form(form_id)
    rng = random.Random(seed)
    spec = SheetSpec(
        form,
        make_figures(form, rng),
        layout,
        script,
        lang,
        words,
        order=order,
        hand=hand,
        fill=fill,
    )
    return render_sheet(spec, rng), spec


def _ink_rows(sheet: Image.Image) -> np.ndarray:
    """Per row of the page: whether it has dark ink in the left half (where labels are)."""
    grey = np.asarray(sheet.convert("L"))
    return np.asarray((grey[:, : sheet.width // 2] < 110).any(axis=1))


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
@pytest.mark.parametrize(
    ("script", "hand"), [("typed", "font"), ("handwritten", "font"), ("handwritten", "mnist")]
)
def test_new_layout_prints_every_field_in_the_order_given(
    layout: str, script: str, hand: str
) -> None:
    form = load_form(MAZHILIS)
    order = printed_order(form, True, random.Random(4))
    sheet, _ = _sheet(layout, script, hand, order=order)
    assert sheet.size == (1240, 1754)
    assert sheet.info["order"] == list(order)
    rows = sheet.info["rows"]
    assert set(rows) == set(form.keys)
    ink = _ink_rows(sheet)
    for key, y in rows.items():
        assert ink[y : y + 30].any(), f"no label printed at {key}'s row"
    ys = [rows[k] for k in order]
    if layout == "two-column":  # filled down the left column, then the right one
        half = (len(order) + 1) // 2
        assert ys[:half] == sorted(ys[:half]) and ys[half:] == sorted(ys[half:])
        assert ys[half:] == ys[: len(order) - half]  # the right column beside the left
    else:
        assert ys == sorted(ys) and len(set(ys)) == len(ys)
    if hand == "mnist":
        sources = sheet.info["hand_sources"]
        drawn = order
        if layout == "two-column":  # written row by row: left cell, then right
            half = (len(order) + 1) // 2
            drawn = tuple(
                k for r in range(half) for k in (order[r], *order[r + half : r + half + 1])
            )
        written = "".join(str(sheet_fig) for sheet_fig in _figures_in(sheet, drawn))
        assert [d for d, _ in sources] == [int(c) for c in written]
        assert all(0 <= i < len(digits("held_out")[d]) for d, i in sources)


def _figures_in(sheet: Image.Image, order: tuple[str, ...]) -> list[int]:
    """The figures of a sheet drawn by ``_sheet`` in printed order (its truth, re-made)."""
    form = load_form(MAZHILIS)
    figures = make_figures(form, random.Random(1))
    return [figures[k] for k in order]


def test_two_column_filled_by_rows_puts_pairs_side_by_side() -> None:
    form = load_form(MAZHILIS)
    sheet, _ = _sheet("two-column", fill="rows")
    ys = [sheet.info["rows"][k] for k in form.keys]
    assert ys[0::2] == ys[1::2] and ys[0::2] == sorted(set(ys))


@pytest.mark.parametrize("layout", LAYOUTS_ALL)
def test_against_all_printed_last_is_below_every_party(layout: str) -> None:
    form = load_form(MAZHILIS)
    order = printed_order(form, against_all_last=True)
    assert order[-1] == "against_all"
    sheet, _ = _sheet(layout, order=order)
    rows = sheet.info["rows"]
    parties = form.groups["parties"]
    if layout == "two-column":  # last in the right column, below every row of it
        assert all(rows["against_all"] > rows[k] for k in parties[-6:])
        assert rows["against_all"] == max(rows.values())
    else:
        assert all(rows["against_all"] > rows[k] for k in parties)
    default, _ = _sheet(layout)
    if layout != "two-column":  # there, the first party may head the right column
        assert default.info["rows"]["against_all"] < default.info["rows"][parties[0]]


@pytest.mark.slow
def test_against_all_last_is_last_on_the_page_by_ocr() -> None:
    """Read by Tesseract, not by the generator's own record: "Против всех" printed below
    every party's label on a typed ``stacked`` sheet (and above them by default)."""
    import pytesseract  # a dependency of the project: never skipped

    form = load_form(MAZHILIS)

    def tops(order: tuple[str, ...] | None) -> tuple[int, list[int]]:
        sheet, _ = _sheet("stacked", order=order, seed=2)
        data = pytesseract.image_to_data(
            sheet, lang="rus", config="--psm 4", output_type=pytesseract.Output.DICT
        )
        words = list(zip(data["text"], data["top"], strict=True))
        against = [t for w, t in words if w.strip().lower() == "всех"]
        parties = [t for w, t in words if w.strip().lower() in ("партия", "партия«amanat»")]
        assert len(against) == 1 and len(parties) >= 3, words
        return against[0], parties

    against, parties = tops(printed_order(form, against_all_last=True))
    assert against > max(parties)
    against, parties = tops(None)
    assert against < min(parties)


def test_shuffled_order_is_recorded_and_its_own_stream() -> None:
    form = load_form(MAZHILIS)
    plain = make_sample(2, 5, tier="clean", layout="stacked", layouts=LAYOUTS_ALL)
    mixed = make_sample(
        2, 5, tier="clean", layout="stacked", layouts=LAYOUTS_ALL, shuffle_parties=True
    )
    assert plain.truth["figures"] == mixed.truth["figures"]
    assert plain.truth["order"] == list(form.keys)
    order = mixed.truth["order"]
    assert isinstance(order, list) and sorted(order) == sorted(form.keys)
    assert order != list(form.keys) and mixed.truth["shuffled"] is True
    parties = set(form.groups["parties"])
    slots = [i for i, k in enumerate(order) if k in parties]
    assert slots == list(range(slots[0], slots[0] + len(parties)))  # still one block
    assert order[: slots[0]] == list(form.keys[: slots[0]])
    assert plain.image != mixed.image


def test_new_options_are_deterministic_per_seed() -> None:
    options = {"layouts": LAYOUTS_ALL, "hand": "mnist", "against_all_last": True}
    a = make_sample(7, 3, **options)  # type: ignore[arg-type]
    b = make_sample(7, 3, **options)  # type: ignore[arg-type]
    c = make_sample(8, 3, **options)  # type: ignore[arg-type]
    assert a.image == b.image and a.truth == b.truth
    assert a.image != c.image
    assert a.truth["order"][-1] == "against_all"  # type: ignore[index]


def test_mnist_hand_is_recorded_in_the_truth() -> None:
    s = make_sample(1, 4, tier="clean", script="handwritten", layout="table", hand="mnist")
    assert s.truth["hand"] == "mnist" and s.truth["hand_held_out"] is True
    assert s.truth["layout"] == "table" and s.truth["order"] == list(load_form(MAZHILIS).keys)
    font = make_sample(1, 4, tier="clean", script="handwritten", layout="table")
    assert font.truth["hand"] != "mnist" and font.image != s.image
    typed = make_sample(1, 4, tier="clean", script="typed", layout="table", hand="mnist")
    assert typed.truth["hand"] is None and typed.truth["hand_held_out"] is None
    img = Image.open(io.BytesIO(s.image))
    assert img.size == (1240, 1754)


def test_layouts_option_draws_the_layouts_given() -> None:
    drawn = {
        make_sample(i, 1, tier="clean", script="typed", layouts=NEW_LAYOUTS).truth["layout"]
        for i in range(5)
    }
    assert drawn <= set(NEW_LAYOUTS) and len(drawn) >= 2


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_new_layouts_draw_a_presidential_form_in_kazakh(layout: str) -> None:
    form = load_form("kz-presidential-2022")
    order = printed_order(form, True, random.Random(2))
    sheet, _ = _sheet(layout, "handwritten", lang="kk", order=order, form_id="kz-presidential-2022")
    assert set(sheet.info["rows"]) == set(form.keys) and sheet.info["order"][-1] == "against_all"


def test_a_printed_order_must_name_every_figure() -> None:
    with pytest.raises(ValueError):
        _sheet("stacked", order=("voters_on_list", "amanat"))


def test_command_line_draws_new_layouts_and_hands(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ocr.synth",
            str(tmp_path),
            "--count",
            "2",
            "--layout",
            "boxes",
            "--script",
            "handwritten",
            "--tier",
            "clean",
            "--hand",
            "mnist",
            "--against-all-last",
        ],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    truths = [json.loads(p.read_text("utf-8")) for p in sorted(tmp_path.glob("*.truth.json"))]
    assert len(truths) == 2 and len(list(tmp_path.glob("clean-handwritten-boxes-*.png"))) == 2
    for t in truths:
        assert (t["layout"], t["hand"], t["hand_held_out"]) == ("boxes", "mnist", True)
        assert t["order"][-1] == "against_all" and t["against_all_last"] is True


@pytest.mark.parametrize("layout", NEW_LAYOUTS)
def test_each_figure_is_written_in_its_own_rows_band(layout: str) -> None:
    """Change one figure and only the band of its row changes: above the label (stacked),
    beside it (two-column, boxes); the other figures stay where they were."""
    form = load_form(MAZHILIS)
    order = printed_order(form, True)

    def render(figures: dict[str, int]) -> tuple[np.ndarray, dict[str, int]]:
        spec = SheetSpec(form, figures, layout, "typed", "ru", False, order=order)
        sheet = render_sheet(spec, random.Random(9))
        return np.asarray(sheet.convert("L")).astype(int), sheet.info["rows"]

    figures = make_figures(form, random.Random(9))
    base, rows = render(figures)
    for key in ("voters_on_list", "baytak", "against_all"):
        other = dict(figures, **{key: figures[key] + 1 if figures[key] % 10 != 9 else 1})
        changed, rows2 = render(other)
        assert rows2 == rows
        ys = np.flatnonzero((np.abs(changed - base) > 60).any(axis=1))
        assert len(ys), f"{key}'s figure not on the page"
        if layout == "stacked":  # on its own line, between the label above and its own
            above = max([y for y in rows.values() if y < rows[key]], default=0)
            assert above < ys.min() and ys.max() < rows[key], (key, ys.min(), ys.max())
        else:
            assert rows[key] - 10 < ys.min() and ys.max() < rows[key] + 90, (key, ys)
