"""Rendering a dossier: media preparation, Jinja2 HTML, WeasyPrint PDF/A-3b with attachments.

:func:`prepare_media` makes what is shown for each exhibit (display images, stills,
redacted copies) and the derivatives the store must record; :func:`render_html` fills the
template; :func:`render_pdf` lays it out as PDF/A-3b with the originals (court edition),
the timestamp tokens and the JSON hash manifest embedded. Nothing here writes files.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO

import jinja2
from markupsafe import Markup, escape
from PIL import Image

from app.deadlines import Jurisdiction, fill_paragraphs
from app.dossier import media, stills
from app.dossier.i18n import Translator
from app.dossier.media import MediaFetcher
from app.dossier.model import Derivative, Dossier, Exhibit, ProtocolFigures
from base import oneshot
from base.errors import DalelError
from evidence.pdf.sign import EXHIBIT_DEST_PREFIX, MANIFEST_NAME, make_manifest

if TYPE_CHECKING:  # OpenCV (for blurring faces) is loaded only for a public edition
    from app.dossier import redact

DISPLAY_WORKERS = 2
"""Threads making the printable copies of the images beside WeasyPrint (2 cores)."""


class DossierInputError(DalelError, ValueError):
    """The dossier cannot be built from what was given (empty case, missing originals);
    exit code 1."""


@dataclass(frozen=True)
class ExhibitMedia:
    """What is shown for one exhibit."""

    image: bytes | None
    """Image to show (redacted in the public edition), before display reduction."""
    stills: tuple[tuple[float, bytes, int], ...]
    """(timecode, image, faces blurred) for a video."""
    faces_blurred: int
    """Faces blurred in ``image``."""
    redacted_sha256: str | None
    """Hash of the redacted copy shown, when one was made."""
    blurred_boxes: tuple[tuple[int, int, int, int], ...] = ()
    """Each region blurred in ``image``: (x, y, width, height) in the original's pixels."""
    missing_stills: tuple[float, ...] = ()
    """Timecodes at which the video had no frame (e.g. past its end)."""


@dataclass(frozen=True)
class PreparedMedia:
    """Media of every exhibit plus the derivatives made."""

    exhibits: tuple[ExhibitMedia, ...]
    """Per exhibit, in the dossier's order."""
    derivatives: tuple[Derivative, ...]
    """Everything derived, for the store to record."""


@dataclass(frozen=True)
class AttachmentSpec:
    """One file to embed in the PDF."""

    name: str
    """File name inside the PDF."""
    data: bytes
    """Its bytes."""
    relationship: str
    """AFRelationship: ``Source``, ``Data`` or ``Supplement``."""
    description: str = ""
    """Description shown by PDF readers."""


def _check_inputs(dossier: Dossier) -> None:
    if not dossier.exhibits:
        raise DossierInputError(f"case {dossier.case.id} has no evidence; add some first")
    seen: set[str] = set()
    problems: list[str] = []
    for ex in dossier.exhibits:
        if ex.sha256 in seen:
            problems.append(f"{ex.sha256} is listed twice")
        seen.add(ex.sha256)
        if not re.fullmatch(r"[0-9a-f]{64}", ex.sha256):
            problems.append(f"{ex.original_name}: not a SHA-256 hex digest: {ex.sha256!r}")
            continue
        if ex.content is not None and hashlib.sha256(ex.content).hexdigest() != ex.sha256:
            problems.append(f"{ex.original_name}: the object's bytes do not match {ex.sha256}")
        if dossier.edition == "court" and ex.content is None:
            problems.append(f"{ex.original_name} ({ex.sha256}): the original object is missing")
        if dossier.edition == "public" and ex.is_image and ex.content is None and ex.image is None:
            problems.append(f"{ex.original_name} ({ex.sha256}): the image is missing")
    if problems:
        raise DossierInputError("; ".join(problems))


def _still_media(ex: Exhibit) -> stills.StillResult:
    if ex.stills:
        return stills.StillResult(tuple((s.timecode, s.image) for s in ex.stills), ())
    if ex.content is None or not ex.still_timecodes:
        return stills.StillResult((), ())
    suffix = "." + (ex.original_name.rsplit(".", 1)[-1] if "." in ex.original_name else "mp4")
    return stills.extract_stills(ex.content, ex.still_timecodes, suffix=suffix)


def _blurred(data: bytes, protocol: bool) -> redact.Redaction | None:
    """Faces blurred (never on a protocol's sheet), or None for an image that cannot be
    decoded (a damaged photo is still evidence: it is shown by its hash with a note, and does
    not stop the dossier)."""
    from app.dossier import redact

    try:
        return redact.blur_faces(data, protocol=protocol)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _display(data: bytes | None, max_px: int = media.DISPLAY_MAX_PX) -> bytes | None:
    """A printable copy, or None when the image cannot be decoded."""
    if data is None:
        return None
    try:
        return media.display_jpeg(data, max_px)
    except (media.ImageUnreadable, ValueError, Image.DecompressionBombError):
        return None


def prepare_media(dossier: Dossier) -> PreparedMedia:
    """Stills of videos and (public edition) face-blurred copies, with their derivatives."""
    _check_inputs(dossier)
    public = dossier.edition == "public"
    if public:
        from app.dossier import redact
    per_exhibit: list[ExhibitMedia] = []
    derivatives: list[Derivative] = []
    images = [
        ex.image if ex.image is not None else (ex.content if ex.is_image else None)
        for ex in dossier.exhibits
    ]
    redactions: list[redact.Redaction | None] = [None] * len(images)
    if public:  # OpenCV and Pillow release the GIL: use both cores
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            redactions = list(
                pool.map(
                    lambda pair: _blurred(*pair) if pair[0] is not None else None,
                    [
                        (data, ex.kind == "protocol" or bool(ex.figures))
                        for data, ex in zip(images, dossier.exhibits, strict=True)
                    ],
                )
            )
    for ex, image, red in zip(dossier.exhibits, images, redactions, strict=True):
        faces, redacted_sha = 0, None
        boxes: tuple[tuple[int, int, int, int], ...] = ()
        if public and image is not None and red is None:
            image = None  # undecodable, so unchecked for faces: not shown (named by its hash)
        if image is not None and red is not None:
            parent = ex.sha256 if ex.image is None else hashlib.sha256(ex.image).hexdigest()
            d = Derivative(
                red.data, parent, redact.OPERATION, red.media_type, (("faces", str(red.faces)),)
            )
            derivatives.append(d)
            image, faces, redacted_sha, boxes = red.data, red.faces, d.sha256, red.boxes
        shown: list[tuple[float, bytes, int]] = []
        taken = _still_media(ex)
        for tc, data in taken.stills:
            still_d = Derivative(
                data, ex.sha256, stills.OPERATION, "image/png", (("timecode", f"{tc:.3f}"),)
            )
            if not ex.stills:
                derivatives.append(still_d)
            n = 0
            if public:
                still_red = redact.blur_faces(data)
                derivatives.append(
                    Derivative(
                        still_red.data,
                        still_d.sha256,
                        redact.OPERATION,
                        still_red.media_type,
                        (("faces", str(still_red.faces)),),
                    )
                )
                data, n = still_red.data, still_red.faces
            shown.append((tc, data, n))
        per_exhibit.append(
            ExhibitMedia(
                image=image,
                stills=tuple(shown),
                faces_blurred=faces,
                blurred_boxes=boxes,
                redacted_sha256=redacted_sha,
                missing_stills=taken.missing,
            )
        )
    return PreparedMedia(exhibits=tuple(per_exhibit), derivatives=tuple(derivatives))


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "_", base).strip() or "file"
    return base[-120:]


def _media_kind(media_type: str) -> str:
    if media_type.startswith("image/"):
        return "photo"
    if media_type.startswith("video/"):
        return "video"
    if media_type in ("application/pdf", "text/plain"):
        return "document"
    return "other"


def attachment_plan(
    dossier: Dossier,
) -> tuple[list[AttachmentSpec], list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """Files to embed (without the manifest), manifest entries, and names per exhibit.

    Returns (attachments, manifest exhibit entries, original attachment name by sha256,
    token attachment name by sha256 and TSA certificate attachment name by "sha256:tsa").
    """
    attachments: list[AttachmentSpec] = []
    entries: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    token_names: dict[str, str] = {}
    tsa_seen: dict[str, str] = {}
    for i, ex in enumerate(dossier.exhibits, start=1):
        prefix = f"E{i:02d}"
        entry: dict[str, Any] = {
            "index": i,
            "sha256": ex.sha256,
            "original_name": ex.original_name,
            "media_type": ex.media_type,
            "size": len(ex.content) if ex.content is not None else ex.size,
            "attachment": None,
        }
        if dossier.edition == "court" and ex.content is not None:
            name = f"{prefix}-{_safe_name(ex.original_name)}"
            attachments.append(AttachmentSpec(name, ex.content, "Source", ex.sha256))
            entry["attachment"] = name
            names[ex.sha256] = name
        tt = ex.trusted_time
        if tt is not None and tt.token is not None:
            tname = f"{prefix}-timestamp.tsr"
            attachments.append(
                AttachmentSpec(tname, tt.token, "Supplement", f"RFC 3161 {ex.sha256}")
            )
            entry["timestamp"] = {
                "attachment": tname,
                "sha256": hashlib.sha256(tt.token).hexdigest(),
            }
            token_names[ex.sha256] = tname
            token_names[f"{ex.sha256}:tsa"] = ""
            if tt.tsa_cert_pem is not None:
                cert_sha = hashlib.sha256(tt.tsa_cert_pem).hexdigest()
                if cert_sha not in tsa_seen:
                    cname = f"tsa-{cert_sha[:12]}.pem"
                    tsa_seen[cert_sha] = cname
                    attachments.append(
                        AttachmentSpec(cname, tt.tsa_cert_pem, "Supplement", "TSA certificate")
                    )
                entry["timestamp"]["tsa_cert"] = {
                    "attachment": tsa_seen[cert_sha],
                    "sha256": cert_sha,
                }
                token_names[f"{ex.sha256}:tsa"] = tsa_seen[cert_sha]
        entries.append(entry)
    return attachments, entries, names, token_names


def t_mismatch(tr: Translator, ex: Exhibit | None) -> str:
    """The PRECINCT_MISMATCH warning for a protocol photo's figures table, or ""."""
    if ex is None or not ex.precinct_mismatch:
        return ""
    return tr.t("exhibit.precinct_mismatch", sheet=ex.precinct_on_sheet, filed=ex.precinct_filed)


def breakable(name: str) -> Markup:
    """A file name that may break only after ``_``, ``-``, a space or a dot (``<wbr>``), so a
    narrow column splits ``хаттама_63_1.jpg`` at ``хаттама_`` and never as ``.p / ng``."""
    parts = re.split(r"(?<=[_\-. ])", name)
    return Markup("<wbr>").join(escape(p) for p in parts)


def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("templates")))
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["breakable"] = breakable
    return env


def _readings(
    ex: Exhibit, table: ProtocolFigures | None, images: MediaFetcher
) -> list[dict[str, Any]]:
    """The exhibit's figures as read, each with its crop and, when the protocol is compared
    with the official results, the official figure and the difference: a protocol's one full
    table (the figures section lists only the lines that differ and refers to it)."""
    rows = {r.field: r for r in table.rows} if table is not None else {}
    out = []
    for f in ex.figures:
        row = rows.get(f.field)
        out.append(
            {
                "field": f.field,
                "label": f.label,
                "value": f.value,
                "confidence": f.confidence,
                "confirmed_by": f.confirmed_by,
                "crop_uri": (images.add(f.crop_png, "image/png") if f.crop_png else None),
                "official": row.official if row is not None else None,
                "difference": row.difference if row is not None else None,
                # the figure compared when it is not the one read (a person's correction)
                "counted": row.protocol if row is not None and row.protocol != f.value else None,
            }
        )
    return out


def _display_copies(
    prepared: PreparedMedia, images: MediaFetcher, pool: Executor | None
) -> tuple[list[str | None], list[list[str | None]]]:
    """URLs of each exhibit's printable image and stills (None: cannot be decoded).

    Pillow releases the GIL while it decodes, scales and encodes, so the copies are made on
    the other core: here at once (``pool`` None), or left running in ``pool``."""
    if pool is not None:
        return (
            [
                images.add_pending(pool.submit(_display, em.image), "image/jpeg")
                if em.image is not None
                else None
                for em in prepared.exhibits
            ],
            [
                [
                    images.add_pending(pool.submit(_display, s[1], 900), "image/jpeg")
                    for s in em.stills
                ]
                for em in prepared.exhibits
            ],
        )
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as own:
        shown = list(own.map(lambda em: _display(em.image), prepared.exhibits))
        shown_stills = list(
            own.map(lambda em: [_display(s[1], 900) for s in em.stills], prepared.exhibits)
        )
    return (
        [images.add(d, "image/jpeg") if d is not None else None for d in shown],
        [
            [images.add(d, "image/jpeg") if d is not None else None for d in row]
            for row in shown_stills
        ],
    )


def render_html(
    dossier: Dossier,
    jurisdiction: Jurisdiction,
    prepared: PreparedMedia,
    tr: Translator,
    attachment_names: dict[str, str],
    token_names: dict[str, str],
    images: MediaFetcher,
    pool: Executor | None = None,
) -> str:
    """The dossier as HTML; images are registered in ``images`` and referenced by URL.

    Without ``pool`` the printable copies of the images are made before it returns (an image
    that cannot be decoded gets a note instead). With ``pool`` they are made there while the
    caller goes on (WeasyPrint parses the HTML and applies the styles in the meantime), each
    image assumed decodable: the caller must ask ``images.any_missing()`` and, if so, render
    again without a pool."""
    case = dossier.case
    lang = dossier.language
    text = jurisdiction.kind_text(case.kind)
    values = {
        "precinct": case.precinct,
        "event_date": tr.fmt_date(case.event_date),
        "respondent": case.respondent.name,
        "title": case.title,
    }
    facts = case.facts or fill_paragraphs(text.facts[lang], values)
    grounds = case.legal_grounds or fill_paragraphs(text.legal_grounds[lang], values)
    relief = case.relief or fill_paragraphs(text.relief[lang], values)
    exhibits: list[dict[str, Any]] = []
    anchors: dict[str, tuple[str, str]] = {}
    compared = {table.protocol_sha256: table for table in dossier.figures}
    shown, shown_stills = _display_copies(prepared, images, pool)
    for i, (ex, em) in enumerate(zip(dossier.exhibits, prepared.exhibits, strict=True), 1):
        anchor = f"{EXHIBIT_DEST_PREFIX}{ex.sha256}"
        label = tr.t("exhibit.label", n=i)
        anchors[ex.sha256] = (anchor, label)
        exhibits.append(
            {
                "index": i,
                "label": label,
                "anchor": anchor,
                "sha256": ex.sha256,
                "original_name": ex.original_name,
                "description": ex.description,
                "media_type": ex.media_type,
                "media_kind": _media_kind(ex.media_type),
                "size": len(ex.content) if ex.content is not None else ex.size,
                "is_video": ex.is_video,
                "qr_uri": images.add(media.qr_png(ex.sha256), "image/png"),
                "image_uri": shown[i - 1],
                "image_unreadable": ex.is_image and shown[i - 1] is None,
                "stills": [
                    {"timecode": stills.format_timecode(tc), "faces": n, "uri": small}
                    for (tc, _, n), small in zip(em.stills, shown_stills[i - 1], strict=True)
                    if small is not None
                ],
                "faces_blurred": em.faces_blurred,
                "blurred_boxes": "; ".join(
                    f"{x}, {y}, {w}\u00d7{h}" for x, y, w, h in em.blurred_boxes
                ),
                "is_protocol": ex.kind == "protocol" or bool(ex.figures),
                "precinct_filed": ex.precinct_filed,
                "precinct_on_sheet": ex.precinct_on_sheet,
                "precinct_checked": ex.precinct_checked,
                "precinct_read_by": ex.precinct_read_by,
                "precinct_mismatch": ex.precinct_mismatch,
                "redacted_sha256": em.redacted_sha256,
                "missing_stills": [stills.format_timecode(tc) for tc in em.missing_stills],
                "attachment": attachment_names.get(ex.sha256),
                "token_attachment": token_names.get(ex.sha256),
                "tsa_cert_attachment": token_names.get(f"{ex.sha256}:tsa"),
                "captured": ex.captured,
                "received": ex.received,
                "camera": ex.camera,
                "gps": ex.gps,
                "trusted_time": ex.trusted_time,
                "custody": ex.custody,
                "figures": _readings(ex, compared.get(ex.sha256), images),
                "compared": ex.sha256 in compared,
                "confirmations": ex.confirmations,
            }
        )
    figures = []
    for table in dossier.figures:
        anchor, label = anchors.get(table.protocol_sha256, ("", ""))
        photo = next((e for e in dossier.exhibits if e.sha256 == table.protocol_sha256), None)
        figures.append(
            {
                "mismatch": t_mismatch(tr, photo),
                "precinct": table.precinct,
                "protocol_sha256": table.protocol_sha256,
                "rows": [r for r in table.rows if r.difference not in (None, 0)],
                "total": len(table.rows),
                "compared": sum(1 for r in table.rows if r.difference is not None),
                "failing_relations": table.failing_relations,
                "exhibit_anchor": anchor,
                "exhibit_label": label,
                # its every line is on the exhibit's page, with the crops (one table, not two)
                "full_table": bool(photo is not None and photo.figures),
            }
        )
    css = resources.files("templates").joinpath("dossier.css").read_text(encoding="utf-8")
    template = _environment().get_template("dossier.html")
    subject = case.title or tr.t(
        "subject.default", kind=tr.t(f"kind.{case.kind}"), precinct=case.precinct
    )
    return template.render(
        lang=lang,
        edition=dossier.edition,
        draft=dossier.draft,
        subject=subject,
        org_name=dossier.org_name,
        case=case,
        complainant=case.complainant if dossier.edition == "court" else None,
        deadline=dossier.deadline,
        facts=facts,
        grounds=grounds,
        relief=relief,
        exhibits=exhibits,
        figures=figures,
        css=css,
        generated_at=dossier.generated_at or datetime.now(UTC),
        t=tr.t,
        t_opt=tr.t_opt,
        plural=tr.plural,
        fmt_date=tr.fmt_date,
        fmt_dt=tr.fmt_dt,
        fmt_dt_short=tr.fmt_dt_short,
        utc_offset=tr.utc_offset,
        fmt_int=tr.fmt_int,
    )


def manifest_bytes(
    dossier: Dossier, entries: list[dict[str, Any]], prepared: PreparedMedia
) -> bytes:
    """The JSON hash manifest of this dossier."""
    derived = [
        {
            "sha256": d.sha256,
            "parent_sha256": d.parent_sha256,
            "operation": d.operation,
            "media_type": d.media_type,
            "params": dict(d.params),
        }
        for d in prepared.derivatives
    ]
    return make_manifest(
        case_id=dossier.case.id,
        edition=dossier.edition,
        language=dossier.language,
        exhibits=entries,
        derivatives=derived,
    )


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector paused (reference counting still frees what is dropped).

    WeasyPrint makes millions of small objects (boxes, styles) that live until the PDF is
    written; each full collection walks all of them again, and they took about a third of
    its layout and drawing time. Restores the collector's previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: WeasyPrint's user-agent rules that give *every* element a style for six pseudo-elements
#: (a list marker and five kinds of footnote and note marks): about 85,000 styles computed
#: and kept for a 50-exhibit dossier, most of the time spent applying styles. The dossier has
#: no footnotes or notes (the rules are kept, for a class no element has), and only ``li``
#: elements are list items (have a marker).
_UA_EVERY_ELEMENT_PSEUDO = (
    ("::marker {", "li::marker {"),
    ("::footnote-call {", ".dalel-no-note::footnote-call {"),
    ("::footnote-marker {", ".dalel-no-note::footnote-marker {"),
    ("::note-call {", ".dalel-no-note::note-call {"),
    ("::note-marker {", ".dalel-no-note::note-marker {"),
    ("::note-callback {", ".dalel-no-note::note-callback {"),
)


@functools.cache
def ua_stylesheet() -> Any:
    """WeasyPrint's HTML user-agent stylesheet with the pseudo-element rules of
    :data:`_UA_EVERY_ELEMENT_PSEUDO` scoped to the elements that use them, or None (use
    WeasyPrint's own) when its stylesheet does not read as expected (another version)."""
    import weasyprint
    from weasyprint import html as ua

    text = getattr(ua, "UA", "")
    for rule, scoped in _UA_EVERY_ELEMENT_PSEUDO:
        if text.count("\n" + rule) != 1:
            return None
        text = text.replace("\n" + rule, "\n" + scoped)
    return weasyprint.CSS(string=text, counter_style=ua.UA_COUNTER_STYLE)


def _html(html: str, base_url: str, url_fetcher: Any) -> Any:
    """A ``weasyprint.HTML`` of ``html`` styled with :func:`ua_stylesheet`."""
    import weasyprint

    sheet = ua_stylesheet()
    if sheet is None:
        return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=url_fetcher)

    class DossierHTML(weasyprint.HTML):  # type: ignore[misc]
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [sheet]

    return DossierHTML(string=html, base_url=base_url, url_fetcher=url_fetcher)


def layout(html: str, images: MediaFetcher | None = None) -> Any:
    """``html`` laid out by WeasyPrint (a ``weasyprint.Document``), its images from ``images``."""
    fetcher = (images or MediaFetcher()).fetcher()
    base = str(resources.files("templates"))
    with cyclic_gc_paused():
        return _html(html, base, fetcher).render()


def write_pdf(document: Any, attachments: list[AttachmentSpec]) -> bytes:
    """A laid-out ``document`` as PDF/A-3b with ``attachments`` embedded (AFRelationship set)."""
    with tempfile.TemporaryFile() as out:
        write_pdf_to(document, attachments, out)
        out.seek(0)
        return out.read()


def write_pdf_to(
    document: Any, attachments: list[AttachmentSpec], out: BinaryIO, *, identified: bool = True
) -> None:
    """Write ``document`` as PDF/A-3b with ``attachments`` to the file ``out``.

    Written to a file rather than returned: WeasyPrint builds the PDF in a growing buffer and
    copies it at the end, two copies of every embedded original held beside the laid-out
    pages (the peak of a dossier's memory); read back once the pages are freed, it is one.
    ``identified``: with the trailer's ``/ID`` (a part of a split dossier gets it when joined)."""
    import weasyprint

    created = datetime.now(UTC)
    files = [
        weasyprint.Attachment(
            string=a.data,
            name=a.name,
            description=a.description,
            relationship=a.relationship,
            created=created,
            modified=created,
        )
        for a in attachments
    ]
    start = out.tell()
    with cyclic_gc_paused():
        document.write_pdf(
            out,
            pdf_variant="pdf/a-3b",
            pdf_identifier=False,  # added below, from the file as written
            attachments=files,
            finisher=_store_compressed_media,
        )
    if identified:
        _add_file_identifier(out, start)


def _add_file_identifier(out: BinaryIO, start: int) -> None:
    """Give the PDF just written to ``out`` (from ``start``) its trailer ``/ID`` (PDF/A wants
    one): the MD5 of the file, put in its last object, the cross-reference stream dictionary.

    pydyf would compute it by joining every object's bytes in memory (a second copy of every
    embedded original at the peak, each stream deflated twice); read back from the file, the
    hash costs one pass. Only that last object moves: ``startxref`` still points at it."""
    out.seek(start)
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: out.read(1 << 20), b""):
        digest.update(chunk)
    end = out.tell()
    out.seek(max(start, end - 64))
    tail = out.read()
    found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", tail)
    if found is None:
        raise DalelError("the PDF written has no startxref")
    xref_at = start + int(found.group(1))
    out.seek(xref_at)
    xref = out.read()
    head_end = xref.find(b">>\nstream\n")
    if not xref.lstrip()[:40].split(b"obj", 1)[-1].lstrip().startswith(b"<<") or head_end < 0:
        raise DalelError("the PDF written does not end with a cross-reference stream")
    if b"/ID" in xref[:head_end]:
        return
    ident = digest.hexdigest().encode()
    out.seek(xref_at + head_end)
    out.write(b"/ID [(" + ident + b") (" + ident + b")]" + xref[head_end:])  # as pydyf's
    out.truncate()


def render_pdf(
    html: str, attachments: list[AttachmentSpec], images: MediaFetcher | None = None
) -> bytes:
    """Lay out ``html`` as PDF/A-3b with ``attachments`` embedded (AFRelationship set)."""
    return write_pdf(layout(html, images), attachments)


_ALREADY_COMPRESSED = (
    "/image#2fjpeg",
    "/image#2fpng",
    "/video#2f",
    "/audio#2f",
    "/application#2fzip",
    "/application#2fpdf",
)


def _store_compressed_media(document: Any, pdf: Any) -> None:
    """Do not deflate embedded photos and videos again: it costs time and saves nothing."""
    for obj in pdf.objects:
        extra = getattr(obj, "extra", None)
        if not isinstance(extra, dict) or extra.get("Type") != "/EmbeddedFile":
            continue
        if str(extra.get("Subtype", "")).startswith(_ALREADY_COMPRESSED):
            obj.compress = False


def _return_freed_memory() -> None:
    """Give the memory of the freed pages back to the system (glibc keeps it otherwise, and
    the PDF's copies that follow would come on top); nothing where there is no glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def render_dossier(
    dossier: Dossier, jurisdiction: Jurisdiction, tr: Translator
) -> tuple[bytes, PreparedMedia, bytes]:
    """Unsigned PDF bytes, the media prepared (with derivatives), and the manifest bytes."""
    prepared = prepare_media(dossier)
    attachments, entries, names, token_names = attachment_plan(dossier)
    manifest = manifest_bytes(dossier, entries, prepared)
    attachments.append(AttachmentSpec(MANIFEST_NAME, manifest, "Data", "Dalel hash manifest"))
    with tempfile.TemporaryFile() as out:
        if split_allowed(dossier) and _write_split(
            out, dossier, jurisdiction, prepared, tr, names, token_names, attachments
        ):
            out.seek(0)
            return out.read(), prepared, manifest
    # The images are made printable on the other core while WeasyPrint parses and styles.
    with ThreadPoolExecutor(max_workers=DISPLAY_WORKERS) as pool, cyclic_gc_paused():
        images = MediaFetcher()
        html = render_html(dossier, jurisdiction, prepared, tr, names, token_names, images, pool)
        document = layout(html, images)
        if images.any_missing():  # an image could not be decoded: say so on its page
            images = MediaFetcher()
            html = render_html(dossier, jurisdiction, prepared, tr, names, token_names, images)
            document = layout(html, images)
        _return_freed_memory()  # what layout made and dropped (pages laid out again)
        with tempfile.TemporaryFile() as out:
            write_pdf_to(document, attachments, out)
            del document, images
            gc.collect()  # the laid-out pages, before the PDF is read back, signed and copied
            _return_freed_memory()
            out.seek(0)
            pdf = out.read()
    return pdf, prepared, manifest


def split_allowed(dossier: Dossier) -> bool:
    """True when ``dossier`` is laid out on both cores (:mod:`app.dossier.split`): long
    enough, on a system with ``fork``, in a process running one thread (another thread
    could hold a lock the forked copy would wait on: a web server or a job worker lays the
    dossier out whole)."""
    import threading

    from app.dossier import split

    return (
        len(dossier.exhibits) >= split.SPLIT_MIN_EXHIBITS
        and hasattr(os, "fork")
        and threading.active_count() == 1
        and split.weasyprint_has_hooks()
    )


def _write_split(
    out: BinaryIO,
    dossier: Dossier,
    jurisdiction: Jurisdiction,
    prepared: PreparedMedia,
    tr: Translator,
    names: dict[str, str],
    token_names: dict[str, str],
    attachments: list[AttachmentSpec],
) -> bool:
    """Lay the dossier out in three parts on both cores and write the joined PDF to ``out``;
    False (nothing written) when the HTML cannot be cut or an image could not be made (the
    whole document is then laid out here, with the note on the image's page)."""
    from app.dossier import split

    images = MediaFetcher()
    html = render_html(
        dossier, jurisdiction, prepared, tr, names, token_names, images, split.DeferredExecutor()
    )
    k = split.cut_at(html, len(dossier.exhibits))
    if k is None:
        return False
    parts = split.split_html(html, k)
    prefetch, images_ok, stop = split.prefetcher(images)

    def write(document: Any, file: BinaryIO, with_attachments: bool) -> None:
        write_pdf_to(document, attachments if with_attachments else [], file, identified=False)

    try:
        with cyclic_gc_paused():
            laid = split.lay_out_in_parts(
                parts, lambda part: layout(part, images), write, prefetch, images_ok
            )
            if laid is not None:
                # In a process that ends with this build, what the parts' layout left is kept
                # to the end: the collection that would follow, walking all of it (0.26 s for
                # 50 exhibits), only frees memory the end gives back (:mod:`base.oneshot`).
                # When the dossier is laid out whole instead, it is collected first.
                oneshot.set_aside()
    except split.SplitLayoutFailed:  # the other process was killed: lay it out whole here
        return False
    finally:
        stop()
    if laid is None:
        return False
    try:
        split.join(laid, parts.owners, out)
    finally:
        for part in laid:
            part.pdf.close()
    return True
