"""The fixture generator writes truth beside images; the perceptual hash groups photos."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from ocr import hash_distance, load_form, perceptual_hash
from ocr.synth import make_figures, make_sample
from ocr.synth.photo import photograph
from ocr.synth.render import SheetSpec, render_sheet


def test_figures_add_up_unless_asked_not_to() -> None:
    form = load_form("kz-mazhilis-party-list-2023")
    for seed in range(20):
        good = make_figures(form, random.Random(seed), adds_up=True)
        assert all(r.evaluate(good, form.groups) for r in form.relations)
        bad = make_figures(form, random.Random(seed), adds_up=False)
        assert not all(r.evaluate(bad, form.groups) for r in form.relations)


def test_samples_are_deterministic_and_decodable() -> None:
    a = make_sample(4, 9, tier="hard", script="handwritten", layout="bilingual")
    b = make_sample(4, 9, tier="hard", script="handwritten", layout="bilingual")
    assert a.image == b.image and a.truth == b.truth
    img = cv2.imdecode(np.frombuffer(a.image, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and min(img.shape[:2]) > 1000
    assert a.truth["tier"] == "hard" and a.ext == "jpg"
    assert set(a.truth["figures"]) == set(load_form(a.truth["form"]).keys)


def test_command_line_writes_truth_beside_images(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "ocr.synth", str(tmp_path), "--count", "2", "--seed", "3"],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    truths = sorted(tmp_path.glob("*.truth.json"))
    assert len(truths) == 2
    for t in truths:
        stem = t.name[: -len(".truth.json")]
        images = [
            p
            for p in tmp_path.iterdir()
            if p.name.startswith(stem + ".") and p.suffix in (".png", ".jpg")
        ]
        assert len(images) == 1
        assert "figures" in json.loads(t.read_text(encoding="utf-8"))


def test_two_photos_of_one_sheet_hash_close_other_sheet_far() -> None:
    form = load_form("kz-mazhilis-party-list-2023")
    figures = make_figures(form, random.Random(1))
    sheet = render_sheet(SheetSpec(form, figures, "table", "typed", "ru", True), random.Random(2))
    other = render_sheet(
        SheetSpec(form, figures, "leaders", "typed", "kk", False), random.Random(3)
    )
    h1 = perceptual_hash(photograph(sheet, "photo", random.Random(10)))
    h2 = perceptual_hash(photograph(sheet, "photo", random.Random(11)))
    h3 = perceptual_hash(photograph(other, "photo", random.Random(12)))
    assert h1 and h2 and h3 and len(h1) == 16
    assert hash_distance(h1, h2) < hash_distance(h1, h3)
    assert hash_distance(h1, h2) <= 10
    assert perceptual_hash(b"not an image") is None
