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


def _parts(dossier: Any) -> tuple[Any, ...]:
    juris = load_jurisdiction()
    tr = load_translator(dossier.language, juris.timezone)
    prepared = render.prepare_media(dossier)
    _, _, names, tokens = render.attachment_plan(dossier)
    return juris, prepared, tr, names, tokens


def test_images_are_made_printable_while_weasyprint_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed: the HTML is handed to WeasyPrint before the photos' printable copies exist;
    WeasyPrint waits for each only when it draws it, and gets the copy, not the photo."""
    import io
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    from PIL import Image

    dossier = sample_dossier(
        load_jurisdiction(),
        language="ru",
        photos=2,
        photo_size=(2592, 1944),
        today=date(2026, 11, 20),
    )
    gate = threading.Event()
    made = render._display

    def held(data: bytes | None, max_px: int = render.media.DISPLAY_MAX_PX) -> bytes | None:
        assert gate.wait(30)
        return made(data, max_px)

    monkeypatch.setattr(render, "_display", held)
    juris, prepared, tr, names, tokens = _parts(dossier)
    with ThreadPoolExecutor(max_workers=2) as pool:
        images = render.MediaFetcher()
        html = render.render_html(dossier, juris, prepared, tr, names, tokens, images, pool)
        pending = [item for item, _ in images._items if isinstance(item, Future)]
        assert len(pending) == 2 and not any(f.done() for f in pending)
        gate.set()
        document = render.layout(html, images)
    assert not images.any_missing()
    drawn = [Image.open(io.BytesIO(f.result())) for f in pending]  # type: ignore[arg-type]
    assert all(max(img.size) == render.media.DISPLAY_MAX_PX for img in drawn)
    assert len(document.pages) > 2


def test_a_photo_that_cannot_be_decoded_is_still_said_so(tmp_path: Any) -> None:
    """The copies are assumed decodable while WeasyPrint parses; one that is not makes the
    dossier render again with the note on its page."""
    import hashlib
    import subprocess
    from dataclasses import replace

    dossier = sample_dossier(load_jurisdiction(), language="en", photos=1, today=date(2026, 11, 20))
    broken = b"\xff\xd8\xff\xe0" + b"\x00" * 4000
    exhibits = tuple(
        replace(e, content=broken, sha256=hashlib.sha256(broken).hexdigest())
        if e.is_image and i == 0
        else e
        for i, e in enumerate(dossier.exhibits)
    )
    dossier = replace(dossier, exhibits=exhibits)
    juris = load_jurisdiction()
    pdf, _, _ = render.render_dossier(dossier, juris, load_translator("en", juris.timezone))
    (tmp_path / "d.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "d.pdf"), "-"], capture_output=True, text=True
    ).stdout
    assert "The image cannot be shown: the file is damaged" in " ".join(text.split())


def test_the_cycle_collector_is_paused_while_weasyprint_lays_out_and_draws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Speed: full collections walked WeasyPrint's millions of boxes again and again (a third
    of its time). Paused for layout and drawing, on again afterwards, the cycles collected."""
    import gc

    import weasyprint
    from weasyprint.document import Document

    seen: dict[str, bool] = {}
    render_html_doc, write = weasyprint.HTML.render, Document.write_pdf

    def spy_render(self: Any, *a: Any, **k: Any) -> Any:
        seen["layout"] = gc.isenabled()
        return render_html_doc(self, *a, **k)

    def spy_write(self: Any, *a: Any, **k: Any) -> Any:
        seen["write_pdf"] = gc.isenabled()
        return write(self, *a, **k)

    monkeypatch.setattr(weasyprint.HTML, "render", spy_render)
    monkeypatch.setattr(Document, "write_pdf", spy_write)
    juris = load_jurisdiction()
    dossier = sample_dossier(juris, language="en", photos=1, today=date(2026, 11, 20))
    assert gc.isenabled()
    collections = gc.get_stats()[2]["collections"]
    pdf, _, _ = render.render_dossier(dossier, juris, load_translator("en", juris.timezone))
    assert seen == {"layout": False, "write_pdf": False}
    assert gc.isenabled()  # restored
    assert gc.get_stats()[2]["collections"] > collections  # the pages' cycles were collected
    assert pdf.startswith(b"%PDF-")
    with render.cyclic_gc_paused():  # an error inside restores it too
        with pytest.raises(RuntimeError), render.cyclic_gc_paused():
            raise RuntimeError
        assert not gc.isenabled()
    assert gc.isenabled()
