"""A long dossier laid out in three parts on both cores (app/dossier/split.py) is the same
document as laid out whole: the same text on every page (page numbers "X / Y" and the
contents' page numbers included), the same links, named destinations, bookmarks,
attachments and PDF/A metadata. A part that fails is said, and no process is left.

The builds run in a process of their own (one thread: the split forks only there)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.deadlines import load_jurisdiction
from app.dossier import render, split
from testing.dossier_sample import sample_dossier
from tests.conftest import ROOT

#: Builds ``photos`` exhibits laid out whole and in parts (SPLIT_MIN lowered to 3), writes
#: both PDFs and what the split did, as JSON, to OUT.
_BUILD = """
import gc, json, os, sys
from datetime import date
from pathlib import Path
from app.deadlines import load_jurisdiction
from app.dossier import render, split
from app.dossier.i18n import load_translator
from testing.dossier_sample import sample_dossier

out, language, photos, fault = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
split.SPLIT_MIN_EXHIBITS = 3
juris = load_jurisdiction()
dossier = sample_dossier(juris, language=language, photos=photos, today=date(2026, 11, 20))
if fault in ("one-shot", "broken-image"):  # as the dalel program runs it (base.oneshot)
    from base import oneshot
    oneshot.program()
    oneshot.declare()
if fault == "draft":
    from dataclasses import replace
    dossier = replace(dossier, draft=True)
if fault == "broken-image":
    import hashlib
    from dataclasses import replace
    bad = b"\\xff\\xd8\\xff\\xe0" + b"\\x00" * 4000
    exhibits = list(dossier.exhibits)
    exhibits[-1] = replace(exhibits[-1], content=bad, sha256=hashlib.sha256(bad).hexdigest())
    dossier = replace(dossier, exhibits=tuple(exhibits))
tr = load_translator(language, juris.timezone)
report = {"parent": os.getpid(), "split": []}
lay_out_in_parts = split.lay_out_in_parts
def spy(parts, *a, **k):
    report["split"].append(parts.part_b.count('<section class="exhibit"'))
    return lay_out_in_parts(parts, *a, **k)
split.lay_out_in_parts = spy
if fault == "part-b-fails":
    layout = render.layout
    def failing(html, images=None):
        if 'class="integrity"' in html:
            raise render.DossierInputError("part B cannot be laid out")
        return layout(html, images)
    render.layout = failing
if fault == "part-b-killed":
    import signal
    layout = render.layout
    def killed(html, images=None):
        if 'class="integrity"' in html and os.getpid() != report["parent"]:
            os.kill(os.getpid(), signal.SIGKILL)  # the forked process only
        return layout(html, images)
    render.layout = killed
try:
    parts_pdf, _, _ = render.render_dossier(dossier, juris, tr)
except Exception as e:
    report["error"] = [type(e).__name__, str(e), "".join(getattr(e, "__notes__", []))]
else:
    report["set_aside"] = gc.get_freeze_count()
    (out / "parts.pdf").write_bytes(parts_pdf)
    render.split_allowed = lambda d: False
    whole_pdf, _, _ = render.render_dossier(dossier, juris, tr)
    (out / "whole.pdf").write_bytes(whole_pdf)
def parent_of(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()[1]
    except (OSError, IndexError):
        return None
report["children_left"] = [p for p in os.listdir("/proc") if p.isdigit()
    and parent_of(p) == str(os.getpid())]
(out / "report.json").write_text(json.dumps(report))
"""


def _build(tmp_path: Path, language: str, photos: int, fault: str = "") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(tmp_path), language, str(photos), fault or "-"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    return report


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [" ".join(page.split()) for page in text.split("\f")]


def _same_text(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Both PDFs' pages as text, checked equal but for the build's own time and the days
    left counted from it (the two builds run seconds apart)."""
    import re

    parts, whole = _pages(tmp_path / "parts.pdf"), _pages(tmp_path / "whole.pdf")
    assert len(parts) == len(whole) > 4
    stamp = re.compile(r"\d\d\.\d\d\.\d{4} \d\d:\d\d(:\d\d)?")
    for i, (a, b) in enumerate(zip(parts, whole, strict=True)):
        assert stamp.sub("T", a) == stamp.sub("T", b), f"page {i + 1} differs"
    return parts, whole


def _structure(path: Path) -> dict[str, Any]:
    import pikepdf

    with pikepdf.open(path) as pdf:
        index = {page.obj.objgen: i for i, page in enumerate(pdf.pages)}

        def outline(items: Any, depth: int = 0) -> list[Any]:
            out = []
            for item in items:
                dest = item.destination
                out.append((depth, item.title, index[dest[0].objgen], round(float(dest[3]), 1)))
                out += outline(item.children, depth + 1)
            return out

        with pdf.open_outline() as tree:
            marks = outline(tree.root)
        dests = {
            name: (index[dest[0].objgen], round(float(dest[2]), 1), round(float(dest[3]), 1))
            for name, dest in pikepdf.NameTree(pdf.Root.Names.Dests).items()
        }
        links = [
            [
                (str(a.get("/Dest")), [round(float(x), 1) for x in a.Rect])
                for a in page.obj.get("/Annots", [])
            ]
            for page in pdf.pages
        ]
        files = sorted(pikepdf.NameTree(pdf.Root.Names.EmbeddedFiles).keys())
        return {
            "outline": marks,
            "dests": dests,
            "links": links,
            "files": files,
            "af": len(pdf.Root.AF),
            "output_intents": len(pdf.Root.OutputIntents),
            "xmp": pdf.Root.Metadata.read_bytes(),
            "has_id": "/ID" in pdf.trailer,
        }


@pytest.mark.parametrize(("language", "variant"), [("kk", "one-shot"), ("ru", "draft")])
def test_a_dossier_laid_out_in_parts_is_the_whole_document(
    tmp_path: Path, language: str, variant: str
) -> None:
    """Kazakh, in a process that ends with its command as ``dalel`` does (the layout's
    garbage set aside, not collected), and a Russian draft (DRAFT across every page: a box
    repeated on each) in any other process."""
    report = _build(tmp_path, language, photos=5, fault=variant)
    assert report["split"] and report["split"][0] >= 1  # it was split, part B has exhibits
    parts, whole = _same_text(tmp_path)
    total = len(whole) - 1  # pdftotext ends with a form feed
    assert f"1 / {total}" in parts[0] and f"{total} / {total}" in parts[total - 1]
    got, want = _structure(tmp_path / "parts.pdf"), _structure(tmp_path / "whole.pdf")
    for key in want:
        assert got[key] == want[key], key
    assert len(got["outline"]) > 5 and len(got["dests"]) > 5 and any(got["links"])
    if variant == "draft":
        assert all("ЧЕРНОВИК" in page for page in parts[:total])
    # what the layout left was set aside (kept from every later collection) only there
    assert (report["set_aside"] > 0) is (variant == "one-shot")
    assert report["children_left"] == []


def test_the_joined_pdf_reads_strictly_and_stays_pdfa_3b(tmp_path: Path) -> None:
    """The joined PDF reads strictly and keeps PDF/A-3b's identification."""
    import io
    import re

    from pyhanko.pdf_utils.reader import PdfFileReader

    _build(tmp_path, "en", photos=4)
    data = (tmp_path / "parts.pdf").read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert re.search(r"pdfaid:part[^0-9]{1,3}3", xmp)
    assert reader.trailer["/ID"]


def test_a_damaged_image_lays_the_dossier_out_whole_with_its_note(tmp_path: Path) -> None:
    """In the program, too (base.oneshot): what the split tried left is collected, not kept
    while the whole dossier is laid out."""
    report = _build(tmp_path, "en", photos=4, fault="broken-image")
    assert report["split"]  # tried, then laid out whole
    assert report["set_aside"] == 0
    parts, _ = _same_text(tmp_path)
    assert "The image cannot be shown: the file is damaged" in " ".join(parts)
    assert report["children_left"] == []


def test_an_error_in_a_part_is_raised_with_where_it_happened(tmp_path: Path) -> None:
    report = _build(tmp_path, "en", photos=4, fault="part-b-fails")
    assert report["split"]
    kind, message, notes = report["error"]
    assert kind == "DossierInputError" and message == "part B cannot be laid out"
    assert "In the process laying out part of the dossier" in notes and "failing" in notes
    assert report["children_left"] == []
    assert not (tmp_path / "parts.pdf").exists()


def test_a_part_whose_process_is_killed_is_laid_out_again_whole(tmp_path: Path) -> None:
    """The other process killed (out of memory, say): the dossier is still built, whole."""
    report = _build(tmp_path, "en", photos=4, fault="part-b-killed")
    assert report["split"] and "error" not in report
    _same_text(tmp_path)
    assert report["children_left"] == []


def test_short_dossiers_and_processes_with_threads_lay_out_whole() -> None:
    juris = load_jurisdiction()
    short = sample_dossier(juris, photos=2, today=date(2026, 11, 20))
    assert len(short.exhibits) < split.SPLIT_MIN_EXHIBITS and not render.split_allowed(short)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        long = sample_dossier(juris, photos=split.SPLIT_MIN_EXHIBITS, today=date(2026, 11, 20))
        assert not render.split_allowed(long)  # this process runs another thread
    finally:
        stop.set()
        thread.join()


def test_the_html_is_cut_between_exhibits_with_placeholders_for_links_elsewhere() -> None:
    html = (
        '<html><head><style>x{}</style></head><body class="e"><div class="running-org">O</div>'
        '<section class="cover"><a href="#exhibit-b">B</a><a class="pageref" href="#exhibit-b">'
        '</a></section><section class="exhibit" id="exhibit-a"><a href="#figures">f</a>'
        '</section><section class="exhibit" id="exhibit-b"></section>'
        '<section class="integrity" id="integrity"><a href="#exhibit-a">a</a></section>'
        "</body></html>"
    )
    assert split.cut_at(html, 2) == 1 and split.cut_at(html, 3) is None
    parts = split.split_html(html, 1)
    assert parts.owners == {"exhibit-a": 1, "exhibit-b": 2, "integrity": 2}
    for doc in (parts.front, parts.part_a, parts.part_b):
        assert doc.count('<div class="running-org">O</div>') == 1
    assert '<div id="exhibit-b"></div>' in parts.front  # a link there keeps its annotation
    assert '<div id="exhibit-a"></div>' in parts.part_b
    assert 'id="figures"' not in parts.part_a  # owned by nobody: no placeholder needed
    assert "page-break-before: auto" in parts.part_a and "page-break-before" not in parts.front
    written = split.write_in_pages(parts.front, {"exhibit-b": 7})
    assert 'data-page="7"' in written and "attr(data-page)" in written
    assert 'data-page="888"' in split.write_in_pages(parts.front, None)
    assert 'data-page=""' in split.write_in_pages(parts.front, {})  # an anchor nowhere


def test_a_deferred_image_is_made_once_by_whoever_needs_it_first() -> None:
    calls: list[int] = []
    made = split.DeferredExecutor().submit(lambda n: calls.append(n) or n * 2, 21)
    assert not made.done() and calls == []
    assert made.result() == 42 and made.result() == 42 and calls == [21]
    failing = split.DeferredExecutor().submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result()


#: Loaded by the ``dalel`` program under test before anything else (``sitecustomize``): three
#: exhibits are enough to split, and each split, and the threads running then, is noted.
_SPY = """
import json, os, threading
from app.dossier import split
from base import oneshot
split.SPLIT_MIN_EXHIBITS = 2
lay_out_in_parts = split.lay_out_in_parts
def spy(*a, **k):
    with open(os.environ["SPLIT_REPORT"], "a") as f:
        seen = {"threads": threading.active_count(), "one_shot": oneshot.active()}
        f.write(json.dumps(seen) + "\\n")
    return lay_out_in_parts(*a, **k)
split.lay_out_in_parts = spy
"""


def test_on_a_terminal_the_program_still_lays_a_long_dossier_out_on_both_cores(
    filled_store: Path, dalel: Any, tmp_path: Path
) -> None:
    """What a lawyer at a terminal runs: the message shown while the dossier is built is
    drawn without a thread of its own (a spinner's thread made it lay out whole)."""
    import os
    import pty

    from tests.conftest import filing_details

    r = dalel(
        "--store", filled_store, "case", "new", "--precinct", "101", "--kind", "other", "--json"
    )
    assert r.code == 0, r.err
    case = r.json()["id"]
    shas = [
        json.loads(p.read_text())["entry"]["item"]["sha256"]
        for p in sorted((filled_store / "receipts").rglob("*.json"))
    ]
    assert len(set(shas)) == 3
    for sha in set(shas):
        assert dalel("--store", filled_store, "case", "add-evidence", case, sha[:12]).code == 0
    assert dalel("--store", filled_store, "case", "set", case, *filing_details()).code == 0
    spy = tmp_path / "spy"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(_SPY)
    report = tmp_path / "split.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": f"{spy}{os.pathsep}{ROOT}",
        "SPLIT_REPORT": str(report),
        "TERM": "xterm",
    }
    env.pop("NO_COLOR", None)
    leader, follower = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    pdf = tmp_path / "d.pdf"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "--store", str(filled_store), "dossier", "build"]
            + [case, "--out", str(pdf), "--lang", "kk"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=600,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert done.returncode == 0, bytes(seen)[-2000:]
    assert "building the dossier" in bytes(seen).decode(errors="replace")  # it was shown
    splits = report.read_text().splitlines() if report.exists() else []
    assert splits, "laid out whole"
    assert [json.loads(line) for line in splits] == [{"threads": 1, "one_shot": True}]
    assert pdf.read_bytes().startswith(b"%PDF-")
