"""The dossier's speed-ups (issue 18) keep what the pages show: each test fails if its
shortcut is undone or changes the layout."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from app.deadlines import load_jurisdiction
from app.dossier import render
from app.dossier.i18n import load_translator
from testing.dossier_sample import sample_dossier

MM = 96 / 25.4  # CSS pixels per millimetre
PT = 96 / 72


@pytest.fixture(scope="module")
def laid_out() -> Any:
    """A one-photo court dossier laid out by WeasyPrint (not written)."""
    import weasyprint

    juris = load_jurisdiction()
    dossier = sample_dossier(
        juris, language="kk", edition="court", photos=1, today=date(2026, 11, 20)
    )
    tr = load_translator(dossier.language, juris.timezone)
    prepared = render.prepare_media(dossier)
    _, _, names, tokens = render.attachment_plan(dossier)
    images = render.MediaFetcher()
    html = render.render_html(dossier, juris, prepared, tr, names, tokens, images)
    return weasyprint.HTML(string=html, url_fetcher=images.fetcher()).render()


def _boxes(doc: Any, cls: str) -> list[Any]:
    found = []
    for page in doc.pages:
        for box in page._page_box.descendants():
            element = getattr(box, "element", None)
            if element is not None and cls in (element.get("class") or "").split():
                if box.element_tag == element.tag and not type(box).__name__.startswith("Line"):
                    found.append(box)
    return found


def test_the_qr_code_floats_beside_the_hash_without_flex_layout(laid_out: Any) -> None:
    """Flex layout cost WeasyPrint ~35 ms an exhibit; a float draws the same box."""
    from weasyprint.formatting_structure import boxes

    hash_boxes = [b for b in _boxes(laid_out, "hash-box") if isinstance(b, boxes.BlockBox)]
    assert hash_boxes and not any(isinstance(b, boxes.FlexContainerBox) for b in hash_boxes)
    for hash_box in hash_boxes:
        (qr,) = [b for b in hash_box.descendants() if getattr(b, "element", None) is not None
                 and "qr" in (b.element.get("class") or "").split()]  # fmt: skip
        (text,) = [b for b in hash_box.children if "hash-text" in (b.element.get("class") or "")]
        assert qr.style["float"] == "left"
        assert qr.width == pytest.approx(26 * MM, abs=0.5)
        # the hash sits to the right of the code, 8pt apart, and the box holds both
        assert text.content_box_x() == pytest.approx(qr.content_box_x() + 26 * MM + 8 * PT, abs=0.5)
        assert qr.position_y - 0.5 <= text.position_y <= qr.position_y + 2 * PT + 0.5  # .label
        inner_bottom = hash_box.content_box_y() + hash_box.height
        assert inner_bottom >= qr.position_y + qr.margin_height() - 0.5
        assert inner_bottom >= text.position_y + text.margin_height() - 0.5
