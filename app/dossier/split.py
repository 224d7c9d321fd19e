"""Laying a long dossier out on both cores: three documents laid out at once, one PDF.

WeasyPrint lays out one page after another on one core, and a 50-exhibit dossier spent
about 8 of its 12 seconds there. Every exhibit starts on a new page, so the HTML is cut
there into three documents that paginate on their own: the **front** (cover, statement,
contents, figures), **part A** (the first exhibits) and **part B** (the other exhibits and
the integrity section). A forked copy of this process lays out and writes part B while this
one lays out the front and part A; the three PDFs are then joined into one (:func:`join`).

What the whole document would have shown is kept:

- **Page numbers "X / Y".** Each process paginates first; before WeasyPrint draws the page
  numbers (:func:`page_numbers`), the two exchange their page counts, so that every page
  is numbered in the whole document.
- **The contents' page numbers.** The front is laid out twice: once to count its pages,
  and again, once every part is paginated, with each exhibit's page written in (the
  numbers sit in a column of their own, so they move no line: the second count is checked
  against the first).
- **Links and bookmarks.** A link to an exhibit of another part points to a placeholder
  anchor while its part is laid out; the joined PDF has one table of named destinations,
  each from the part that holds it, and the bookmarks of the three parts rebuilt into one
  tree as WeasyPrint nests them.
- **PDF/A-3b and the attachments.** The front carries the attachments, the metadata and
  the output intent; the parts bring their pages with their own fonts and images.

Images are made where they are shown: each process makes the printable copies of its own
part's photos (on a thread beside its layout) from recipes registered before the fork.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import struct
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from base.errors import DalelError

SPLIT_MIN_EXHIBITS = 12
"""Dossiers with fewer exhibits are laid out whole, in one process (the split's fixed cost,
the front laid out twice, outweighs what a second core saves)."""

FRONT_WEIGHT = 6.0
"""The front's pagination in exhibits' (about 0.7 s against 0.125 s an exhibit)."""

_EXHIBIT = re.compile(r'<section class="exhibit"')
_SECTION = re.compile(r"<section\b")
_PAGEREF = re.compile(r'<a class="pageref" href="#([^"]+)"></a>')
_HREF = re.compile(r'href="#([^"]+)"')
_ID = re.compile(r'\sid="([^"]+)"')

#: The parts start on a page that is not the document's first: their first page keeps the
#: header the ``@page :first`` rule removes from the cover.
_NOT_FIRST = "<style>@page :first { @top-right { content: string(edition); } }</style>"
#: A part starts on a page of its own: the break before its first section (an exhibit's)
#: would leave its first page blank, holding only the running headers.
_NO_BREAK_AT_START = "<style>body > section:first-of-type { page-break-before: auto; }</style>"
#: Placeholder anchors (links to another part keep their annotation) take no room.
_ELSEWHERE = '<div class="dalel-elsewhere" style="height:0;overflow:hidden;margin:0">{}</div>'
#: Contents' page numbers written in, for the front's second layout.
_WRITTEN_IN = "<style>a.pageref[data-page]::after { content: attr(data-page); }</style>"


class SplitLayoutFailed(DalelError):
    """A part of the dossier could not be laid out (its process failed or was killed)."""


class DeferredExecutor(Executor):
    """An executor that runs nothing yet: its futures are computed when first asked for, or
    by the ``prefetch`` of :func:`prefetcher` in the process that shows them (a fork copies
    no thread)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Deferred(fn, *args, **kwargs)


class Deferred(Future[Any]):
    """A future computed by whoever first needs it: :meth:`run` (a pool) or :meth:`result`."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._call = (fn, args, kwargs)
        self._claim = threading.Lock()
        self._claimed = False

    def run(self) -> None:
        with self._claim:
            if self._claimed:
                return
            self._claimed = True
        fn, args, kwargs = self._call
        try:
            self.set_result(fn(*args, **kwargs))
        except BaseException as e:  # kept for whoever asks
            self.set_exception(e)

    def result(self, timeout: float | None = None) -> Any:
        self.run()
        return super().result(timeout)


@dataclass(frozen=True)
class Parts:
    """The dossier's HTML cut into three documents that paginate on their own."""

    front: str
    """Cover, statement, contents and figures (:func:`write_in_pages` writes the contents'
    page numbers in)."""
    part_a: str
    part_b: str
    owners: dict[str, int]
    """Each id (anchor) and the part holding it: 0 front, 1 part A, 2 part B."""


def cut_at(html: str, exhibits: int) -> int | None:
    """Where to cut between part A and part B: the index of B's first exhibit, so that this
    process (the front, then part A) and the other (part B) are paginated at about the same
    time: there they wait for each other. Written after that, part A and the front laid out
    again take about as long as part B written. None when the HTML does not read as the
    dossier template makes it."""
    starts = _EXHIBIT.findall(html)
    if len(starts) != exhibits or exhibits < 2:
        return None
    # front + A = B  (B holds the integrity section, about an exhibit's worth)
    k = round((exhibits + 1 - FRONT_WEIGHT) / 2)
    return min(max(k, 1), exhibits - 1)


def split_html(html: str, k: int) -> Parts:
    """``html`` cut before its first exhibit and before exhibit ``k`` (0-based)."""
    body_at = html.index("<body")
    body_open_end = html.index(">", body_at) + 1
    head = html[:body_at]
    body_open = html[body_at:body_open_end]
    end = html.rindex("</body>")
    sections = [m.start() for m in _SECTION.finditer(html, body_open_end, end)]
    exhibits = [m.start() for m in _EXHIBIT.finditer(html, body_open_end, end)]
    prefix = html[body_open_end : sections[0]]  # running headers, the draft mark
    chunks = [
        html[sections[0] : exhibits[0]],
        html[exhibits[0] : exhibits[k]],
        html[exhibits[k] : end],
    ]
    owners: dict[str, int] = {}
    for i, chunk in enumerate(chunks):
        for name in _ID.findall(chunk):
            owners.setdefault(name, i)
    docs = []
    for i, chunk in enumerate(chunks):
        elsewhere = sorted(
            {n for n in _HREF.findall(chunk) if owners.get(n, i) != i},
        )
        holders = _ELSEWHERE.format("".join(f'<div id="{n}"></div>' for n in elsewhere))
        extra = "" if i == 0 else _NO_BREAK_AT_START + _NOT_FIRST
        docs.append(
            head.replace("</head>", extra + "</head>", 1)
            + body_open
            + prefix
            + (holders if elsewhere else "")
            + chunk
            + "</body></html>"
        )
    return Parts(docs[0], docs[1], docs[2], owners)


def write_in_pages(front: str, pages: dict[str, int] | None) -> str:
    """The front with each contents entry's page written in (``pages``: anchor -> page
    number in the whole document; None: a placeholder as wide as any, to count the front's
    pages); an anchor nowhere in the document gets no number."""

    def number(m: re.Match[str]) -> str:
        if pages is None:
            text = "888"
        else:
            page = pages.get(m.group(1))
            text = str(page) if page is not None else ""
        return f'<a class="pageref" href="#{m.group(1)}" data-page="{text}"></a>'

    return _PAGEREF.sub(number, front).replace("</head>", _WRITTEN_IN + "</head>", 1)


def weasyprint_has_hooks() -> bool:
    """True when this WeasyPrint has what the split hooks into (another version lays the
    dossier out whole): its pagination and margin boxes, and its bookmark tree."""
    import weasyprint.layout as wl
    from weasyprint.document import Document

    return all(hasattr(wl, n) for n in ("make_all_pages", "make_margin_boxes")) and hasattr(
        Document, "make_bookmark_tree"
    )


@contextlib.contextmanager
def page_numbers(agree: Callable[[list[Any]], tuple[int, int]]) -> Iterator[None]:
    """While laying out: once this document is paginated (before WeasyPrint makes the page
    margins), ``agree(pages)`` (the laid-out page boxes) gives ``(offset, total)``: its pages
    are then numbered from ``offset + 1`` out of ``total``."""
    import weasyprint.layout as wl

    make_all_pages, make_margin_boxes = wl.make_all_pages, wl.make_margin_boxes
    paginated: list[list[Any]] = []
    agreed: list[tuple[int, int]] = []

    def all_pages(*args: Any, **kwargs: Any) -> list[Any]:
        pages = list(make_all_pages(*args, **kwargs))
        paginated[:] = [pages]
        return pages

    def margin_boxes(context: Any, page: Any, state: Any) -> Any:
        if not agreed:
            agreed.append(agree(paginated[0]))
        offset, total = agreed[0]
        values = dict(state[1])
        values["page"] = [values["page"][-1] + offset]
        values["pages"] = [total]
        return make_margin_boxes(context, page, (state[0], values, *state[2:]))

    wl.make_all_pages, wl.make_margin_boxes = all_pages, margin_boxes
    try:
        yield
    finally:
        wl.make_all_pages, wl.make_margin_boxes = make_all_pages, make_margin_boxes


def paginated_anchors(pages: list[Any]) -> dict[str, int]:
    """Each anchor of paginated page boxes and its page (0-based), before the document is
    finished (what the front's contents need of part B, as early as it is known)."""
    out: dict[str, int] = {}
    for i, page in enumerate(pages):
        for box in page.descendants():
            name = box.style["anchor"]
            if name:
                out.setdefault(name, i)
    return out


def anchor_pages(document: Any) -> dict[str, int]:
    """Each anchor of a laid-out document and its page (0-based)."""
    out: dict[str, int] = {}
    for i, page in enumerate(document.pages):
        for name in page.anchors:
            out.setdefault(name, i)
    return out


def bookmarks(document: Any) -> list[tuple[float, list[tuple[Any, ...]]]]:
    """Each page's height and bookmarks, as WeasyPrint keeps them (to nest them again)."""
    return [(page.height, list(page.bookmarks)) for page in document.pages]


# --------------------------------------------------------------------------- two processes


class _Channel:
    """Pickled messages over a pair of pipes, each framed by its length."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, message: Any) -> None:
        data = pickle.dumps(message)
        view = memoryview(struct.pack("!Q", len(data)) + data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def receive(self) -> Any:
        (size,) = struct.unpack("!Q", self._exactly(8))
        return pickle.loads(self._exactly(size))

    def _exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(self.read_fd, min(n, 1 << 20))
            if not chunk:
                raise SplitLayoutFailed("the process laying out part of the dossier ended")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


@dataclass
class Laid:
    """What one part gave once written: its PDF and its pages' bookmarks."""

    pdf: BinaryIO
    marks: list[tuple[float, list[tuple[Any, ...]]]]


def lay_out_in_parts(
    parts: Parts,
    lay_out: Callable[[str], Any],
    write: Callable[[Any, BinaryIO, bool], None],
    prefetch: Callable[[str], None],
    images_ok: Callable[[str], bool],
) -> tuple[Laid, Laid, Laid] | None:
    """Lay out and write the three parts, part B in a forked process.

    ``lay_out(html)`` gives a WeasyPrint document; ``write(document, file, attachments)``
    writes it as PDF; ``prefetch(html)`` starts making that HTML's images; ``images_ok(html)``
    says whether all of them could be made. Returns None (lay the dossier out whole) when
    an image of any part could not be made."""
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    b_file = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # part B; never returns
        os.close(to_child_w)
        os.close(to_parent_r)
        _part_b(
            _Channel(to_child_r, to_parent_w), parts, lay_out, write, prefetch, images_ok, b_file
        )
    os.close(to_child_r)
    os.close(to_parent_w)
    channel = _Channel(to_parent_r, to_child_w)
    reaped = False
    files = [b_file]
    laid: tuple[Laid, Laid, Laid] | None = None
    try:
        prefetch(parts.front + parts.part_a)
        front_once = lay_out(write_in_pages(parts.front, None))
        front_pages = len(front_once.pages)
        front_anchors = anchor_pages(front_once)
        del front_once

        agreed: list[tuple[int, dict[str, int]]] = []  # the total, B's anchors

        def agree_a(pages: list[Any]) -> tuple[int, int]:
            message = channel.receive()
            if message[0] != "paginated":
                raise _failure(message)
            _, b_pages, b_anchors = message
            total = front_pages + len(pages) + b_pages
            channel.send((front_pages + len(pages), total))
            agreed.append((total, b_anchors))
            return front_pages, total

        with page_numbers(agree_a):
            doc_a = lay_out(parts.part_a)
        a_ok = images_ok(parts.front + parts.part_a)
        a_file = tempfile.TemporaryFile()
        files.append(a_file)
        if a_ok:
            write(doc_a, a_file, False)
        a = Laid(a_file, bookmarks(doc_a))
        a_pages, a_anchors = len(doc_a.pages), anchor_pages(doc_a)
        del doc_a
        total, b_anchors = agreed[0]
        where = {n: p for n, p in front_anchors.items() if parts.owners.get(n) == 0}
        where.update({n: front_pages + p for n, p in a_anchors.items() if parts.owners.get(n) == 1})
        where.update(
            {n: front_pages + a_pages + p for n, p in b_anchors.items() if parts.owners.get(n) == 2}
        )
        front_html = write_in_pages(parts.front, {n: p + 1 for n, p in where.items()})

        def agree_front(pages: list[Any]) -> tuple[int, int]:
            if len(pages) != front_pages:  # the numbers written in moved a line: cannot happen
                raise SplitLayoutFailed(
                    f"the dossier's front took {len(pages)} pages once its page numbers were "
                    f"written in, {front_pages} before"
                )
            return 0, total

        with page_numbers(agree_front):
            doc_f = lay_out(front_html)
        f_file = tempfile.TemporaryFile()
        files.append(f_file)
        write(doc_f, f_file, True)
        f = Laid(f_file, bookmarks(doc_f))
        del doc_f
        message = channel.receive()  # part B written
        os.waitpid(pid, 0)
        reaped = True
        if message[0] != "written":
            raise _failure(message)
        _, b_marks, b_ok = message
        if not (a_ok and b_ok):
            return None
        laid = (f, a, Laid(b_file, b_marks))
        return laid
    finally:
        if not reaped:
            _kill(pid)
        os.close(to_parent_r)
        os.close(to_child_w)
        if laid is None:  # the caller gets no files to close
            for file in files:
                file.close()


def _part_b(
    channel: _Channel,
    parts: Parts,
    lay_out: Callable[[str], Any],
    write: Callable[[Any, BinaryIO, bool], None],
    prefetch: Callable[[str], None],
    images_ok: Callable[[str], bool],
    out: BinaryIO,
) -> None:
    """The forked process: lay out and write part B, then end without freeing anything."""
    code = 0
    try:

        def agree(pages: list[Any]) -> tuple[int, int]:
            channel.send(("paginated", len(pages), paginated_anchors(pages)))
            offset, total = channel.receive()
            return offset, total

        prefetch(parts.part_b)
        with page_numbers(agree):
            document = lay_out(parts.part_b)
        ok = images_ok(parts.part_b)
        if ok:
            write(document, out, False)
            out.flush()  # (os._exit flushes no buffer)
        channel.send(("written", bookmarks(document), ok))
    except BaseException as e:  # every error goes back to the parent
        code = 1
        text = "".join(traceback.format_exception(e))
        try:
            channel.send(("failed", e, text))
        except Exception:  # an error that cannot be pickled goes as text
            with contextlib.suppress(Exception):
                channel.send(("failed", None, text))
    finally:
        os._exit(code)


def _failure(message: Any) -> BaseException:
    if message[0] == "failed":
        error, text = message[1], message[2]
        if not isinstance(error, BaseException):
            last = text.strip().splitlines()[-1] if text.strip() else "no message"
            error = SplitLayoutFailed(f"part of the dossier could not be laid out: {last}")
        error.add_note(f"In the process laying out part of the dossier:\n{text}")
        return error
    return SplitLayoutFailed(f"unexpected message from the dossier's other process: {message[0]}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------- one PDF


def join(parts: tuple[Laid, Laid, Laid], owners: dict[str, int], out: BinaryIO) -> None:
    """The three PDFs as one, written to ``out``: the front's catalog (attachments, metadata,
    output intent), every page in order, one table of named destinations (each from the
    part holding its anchor) and one tree of bookmarks."""
    import pikepdf
    from weasyprint.document import Document

    pdfs = []
    for part in parts:
        part.pdf.seek(0)
        pdfs.append(pikepdf.open(part.pdf))
    index_of = [{page.obj.objgen: i for i, page in enumerate(pdf.pages)} for pdf in pdfs]
    whole = pdfs[0]
    firsts = [0]
    for pdf in pdfs[1:]:
        firsts.append(len(whole.pages))
        whole.pages.extend(pdf.pages)
    # Named destinations: the copied pages keep their link annotations (/Dest by name).
    dests: dict[str, Any] = {}
    for i, pdf in enumerate(pdfs):
        names = pdf.Root.get("/Names")
        if names is None or "/Dests" not in names:
            continue
        tree = pikepdf.NameTree(names.Dests)
        for name, dest in tree.items():
            if owners.get(name, i) != i or name in dests:
                continue
            page_index = index_of[i][dest[0].objgen]
            dests[name] = (firsts[i] + page_index, list(dest)[1:])
    tree = pikepdf.NameTree.new(whole)
    for name, (page_index, rest) in sorted(dests.items()):
        tree[name] = pikepdf.Array([whole.pages[page_index].obj, *rest])
    if "/Names" not in whole.Root:
        whole.Root.Names = pikepdf.Dictionary()
    whole.Root.Names.Dests = tree.obj
    # Bookmarks: every part's, nested again as WeasyPrint nests them in one document.
    marks = [mark for part in parts for mark in part.marks]

    class _Pages:
        def __init__(self) -> None:
            self.pages = [_Page(height, bms) for height, bms in marks]

    tree_of = Document.make_bookmark_tree(_Pages(), 0.75, transform_pages=True)  # type: ignore[arg-type]
    with whole.open_outline() as outline:
        outline.root.clear()
        outline.root.extend(_outline(pikepdf, tree_of))
    whole.save(
        out,
        compress_streams=False,  # what is compressed stays so; the originals stay stored
        stream_decode_level=pikepdf.StreamDecodeLevel.none,
        deterministic_id=True,
        fix_metadata_version=False,  # the front's XMP as WeasyPrint wrote it
    )
    for pdf in pdfs:
        pdf.close()


@dataclass
class _Page:
    height: float
    bookmarks: list[tuple[Any, ...]]


def _outline(pikepdf: Any, subtrees: list[Any]) -> list[Any]:
    items = []
    for label, (page, x, y), children, state in subtrees:
        item = pikepdf.OutlineItem(label, page, "XYZ", left=x, top=y, zoom=0)
        item.children.extend(_outline(pikepdf, children))
        item.is_closed = state == "closed"
        items.append(item)
    return items


def prefetcher(
    images: Any,
) -> tuple[Callable[[str], None], Callable[[str], bool], Callable[[], None]]:
    """``prefetch(html)`` (start making that HTML's images on a thread), ``images_ok(html)``
    (all of them made) and ``stop()`` (end the thread) over a MediaFetcher's items."""
    pool = ThreadPoolExecutor(max_workers=1)

    def prefetch(html: str) -> None:
        for item in images.shown_in(html):
            if isinstance(item, Deferred):
                pool.submit(item.run)

    def images_ok(html: str) -> bool:
        return all(
            not isinstance(item, Future) or item.result() is not None
            for item in images.shown_in(html)
        )

    return prefetch, images_ok, lambda: pool.shutdown(wait=True)
