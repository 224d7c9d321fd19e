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


def _html(dossier: Any) -> tuple[str, Any]:
    juris, prepared, tr, names, tokens = _parts(dossier)
    images = render.MediaFetcher()
    return render.render_html(dossier, juris, prepared, tr, names, tokens, images), images


def _pdf_pages(pdf: bytes, tmp_path: Any) -> list[str]:
    import subprocess

    (tmp_path / "d.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "d.pdf"), "-"], capture_output=True, text=True
    ).stdout
    return [" ".join(p.split()) for p in text.split("\f")]


def test_each_figure_is_printed_once_with_its_crop_and_the_official_figure(tmp_path: Any) -> None:
    """Speed: a protocol's figures were laid out twice (read with their crops on the exhibit's
    page, then again against the official results): now one table on the exhibit's page holds
    every line with its crop, the official figure and the difference; the figures section
    lists only the lines that differ and names the exhibit."""
    import re

    juris = load_jurisdiction()
    dossier = sample_dossier(juris, language="en", photos=3, today=date(2026, 11, 20))
    (table,) = dossier.figures
    protocol = next(e for e in dossier.exhibits if e.sha256 == table.protocol_sha256)
    html, _ = _html(dossier)
    # every figure's crop, once
    assert html.count('<img class="crop"') == sum(1 for f in protocol.figures if f.crop_png)
    assert len(protocol.figures) == len(table.rows) == 7
    exhibit = html[html.index(f'id="exhibit-{protocol.sha256}"') :]
    readings = exhibit[exhibit.index('<table class="readings compared">') :]
    readings = readings[: readings.index("</table>")]
    rows = re.findall(r"<tr(?: class=\"diff\")?><td class=\"wrap\">.*?</tr>", readings)
    assert len(rows) == 7 and all(r.count("<td") == 6 for r in rows)
    differing = [r for r in table.rows if r.difference not in (None, 0)]
    assert readings.count('<tr class="diff">') == len(differing) == 3
    for row in table.rows:
        assert row.label in readings
    # the figures section: the differing lines, each once, and where the full table is
    section = html[html.index('<section class="figures">') :]
    section = section[: section.index("</section>")]
    assert "<img" not in section
    assert section.count('<tr class="diff">') == 3
    # the annex named whole ("1-қосымша" never splits at its hyphen)
    assert f'<a class="nowrap" href="#exhibit-{protocol.sha256}"' in section
    pdf, _, _ = render.render_dossier(dossier, juris, load_translator("en", juris.timezone))
    pages = _pdf_pages(pdf, tmp_path)
    summary = next(p for p in pages if "Lines compared with the official results: 7 of 7" in p)
    for value in ("+209", "-209", "-6", "[2] = [3] + [4]: 1800 ≠ 1204 + 590"):
        assert value in summary
    assert "differing: 3" in summary and "Every line with its part of the photo: Annex 1" in summary
    full = next(p for p in pages if "Figures read from the photo" in p)
    assert "Official" in full and "Difference" in full and "+209" in full and "-6" in full
    # the index still gives the right page for every exhibit
    index = next(p for p in pages if "Annexes" in p and "SHA-256" in p)
    for n, ex in enumerate(dossier.exhibits, 1):
        m = re.search(
            rf"Annex {n} {re.escape(ex.original_name)} \w+ {ex.sha256[:16]}… (\d+)", index
        )
        assert m, (n, index)
        assert f"Annex {n}. {ex.original_name}" in pages[int(m.group(1)) - 1]
    m = re.search(r"— Protocol figures against the official results (\d+)", index)
    assert m and "Lines compared with the official results" in pages[int(m.group(1)) - 1]


def test_list_markers_are_styled_only_where_there_are_list_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Speed and memory: WeasyPrint's stylesheet gave every element a style for a list marker
    and five kinds of footnote marks (about 85,000 styles for 50 exhibits); only ``li`` has one
    now. The relief's numbers are still drawn."""
    import weasyprint.css as wcss

    assert render.ua_stylesheet() is not None  # the rules were found in this WeasyPrint
    pseudo: list[tuple[str, str]] = []
    made = wcss.StyleFor.set_computed_styles

    def spy(self: Any, element: Any, parent: Any, root: Any = None, pseudo_type: Any = None,
            **kw: Any) -> Any:  # fmt: skip
        if pseudo_type is not None and hasattr(element, "tag"):
            pseudo.append((element.tag, pseudo_type))
        return made(self, element, parent, root, pseudo_type, **kw)

    monkeypatch.setattr(wcss.StyleFor, "set_computed_styles", spy)
    dossier = sample_dossier(load_jurisdiction(), language="ru", photos=1, today=date(2026, 11, 20))
    html, images = _html(dossier)
    document = render.layout(html, images)
    assert ("li", "marker") in pseudo
    assert {p for _, p in pseudo} <= {"marker", "before", "after"}
    assert all(tag == "li" for tag, p in pseudo if p == "marker")
    markers = [  # the relief's numbers, drawn (outside the list items)
        "".join(t.text for t in box._box.descendants() if type(t).__name__ == "TextBox")
        for page in document.pages
        for box in page._page_box.descendants()
        if getattr(box, "element_tag", "") == "li::marker"
    ]
    assert markers[:2] == ["1. ", "2. "]


def test_a_court_edition_leaves_opencv_unloaded_and_frees_the_pages_before_the_pdf_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory: OpenCV (face blurring) is loaded for a public edition only; the laid-out pages
    are freed, and their memory given back, before the PDF is read back and signed."""
    import subprocess
    import sys
    import weakref

    code = "import sys, app.dossiers, app.dossier.render; print('cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

    laid_out: list[Any] = []
    layout = render.layout

    def spy_layout(html: str, images: Any = None) -> Any:
        document = layout(html, images)
        laid_out.append(weakref.ref(document))
        return document

    alive_when_trimmed: list[bool] = []
    monkeypatch.setattr(render, "layout", spy_layout)
    monkeypatch.setattr(
        render,
        "_return_freed_memory",
        lambda: alive_when_trimmed.append(laid_out[-1]() is not None),
    )
    juris = load_jurisdiction()
    dossier = sample_dossier(juris, language="kk", photos=1, today=date(2026, 11, 20))
    pdf, _, _ = render.render_dossier(dossier, juris, load_translator("kk", juris.timezone))
    assert alive_when_trimmed == [True, False]  # after layout; after the PDF is written
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


def test_the_file_identifier_is_added_from_the_file_not_from_a_copy_of_every_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory and speed: pydyf computed the trailer /ID by joining every object's bytes (a
    second copy of every original at the peak, every stream deflated twice). WeasyPrint is
    asked for none; the /ID (PDF/A wants one) is the MD5 of the file as written, in the last
    cross-reference stream, and the file still reads strictly."""
    import hashlib
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from weasyprint.document import Document

    asked: list[object] = []
    write = Document.write_pdf

    def spy(self: Any, *a: Any, **k: Any) -> Any:
        asked.append(k.get("pdf_identifier"))
        return write(self, *a, **k)

    monkeypatch.setattr(Document, "write_pdf", spy)
    juris = load_jurisdiction()
    dossier = sample_dossier(juris, language="kk", photos=1, today=date(2026, 11, 20))
    pdf, _, _ = render.render_dossier(dossier, juris, load_translator("kk", juris.timezone))
    assert asked == [False]
    reader = PdfFileReader(io.BytesIO(pdf), strict=True)
    first, second = (str(part) for part in reader.trailer["/ID"])
    at = pdf.rindex(b"/ID [(")  # the file before the /ID went in hashes to it
    end = pdf.index(b")]", at) + 2
    assert first == second == hashlib.md5(pdf[:at] + pdf[end:]).hexdigest()
    assert reader.root["/Metadata"] and len(reader.root["/AF"]) >= len(dossier.exhibits)
