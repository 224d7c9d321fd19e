"""Media type from content, never from the name, and a cheap check of a file's structure.

`detect_media_type` reads only the first bytes of a file (libmagic through python-magic, plus
our own reading of ISO-BMFF ``ftyp`` brands for HEIC/HEIF/MP4/MOV) and says whether the name's
extension disagrees with what the bytes are. `sniff` does the same over bytes already in memory,
so that ingest can detect the type from the head it streamed while hashing, with no second read.

`check_structure` walks a file's container framing (JPEG segments up to the end-of-image marker,
PNG chunks and their CRCs, ISO-BMFF top-level boxes) to tell a truncated or corrupt file from an
intact one, streaming with a bounded read budget: it never reads a multi-GB file into memory.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

HEAD_BYTES = 64 * 1024
"""How many leading bytes content detection looks at."""

STRUCTURE_SCAN_LIMIT = 64 * 1024 * 1024
"""Bytes a structure check may stream through before it gives up judging (no verdict)."""

_CHUNK = 1024 * 1024
_TAIL = 64 * 1024

# Which content types each extension claims. An extension not listed claims nothing.
_EXTENSION_CLAIMS: dict[str, frozenset[str]] = {
    "jpg": frozenset({"image/jpeg"}),
    "jpeg": frozenset({"image/jpeg"}),
    "jpe": frozenset({"image/jpeg"}),
    "png": frozenset({"image/png"}),
    "gif": frozenset({"image/gif"}),
    "webp": frozenset({"image/webp"}),
    "tif": frozenset({"image/tiff"}),
    "tiff": frozenset({"image/tiff"}),
    "heic": frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
    "heif": frozenset({"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}),
    "avif": frozenset({"image/avif"}),
    "mp4": frozenset({"video/mp4"}),
    "m4v": frozenset({"video/mp4", "video/x-m4v"}),
    "mov": frozenset({"video/quicktime"}),
    "3gp": frozenset({"video/3gpp", "video/3gpp2"}),
    "webm": frozenset({"video/webm"}),
    "mkv": frozenset({"video/x-matroska"}),
    "avi": frozenset({"video/x-msvideo"}),
    "pdf": frozenset({"application/pdf"}),
    "txt": frozenset({"text/plain"}),
    "csv": frozenset({"text/plain", "text/csv"}),
    "json": frozenset({"application/json", "text/plain"}),
}

# ISO-BMFF brands, most specific first: any brand listed (major or compatible) in an earlier
# group wins, so a generic MIAF 'mif1' with a 'heic' brand is a HEIC.
_BRAND_TYPES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"heic", "heix", "heim", "heis"}), "image/heic"),
    (frozenset({"hevc", "hevx", "hevm", "hevs"}), "image/heic-sequence"),
    (frozenset({"avif"}), "image/avif"),
    (frozenset({"avis"}), "image/avif"),
    (frozenset({"mif1", "mif2"}), "image/heif"),
    (frozenset({"msf1"}), "image/heif-sequence"),
    (frozenset({"qt  "}), "video/quicktime"),
    (frozenset({"3gp4", "3gp5", "3gp6", "3gp7", "3ge6", "3ge7", "3gg6"}), "video/3gpp"),
    (frozenset({"3g2a", "3g2b", "3g2c"}), "video/3gpp2"),
    (frozenset({"M4A ", "M4B ", "M4P "}), "audio/mp4"),
    (frozenset({"M4V ", "M4VH", "M4VP"}), "video/x-m4v"),
    (
        frozenset(
            {
                "isom",
                "iso2",
                "iso3",
                "iso4",
                "iso5",
                "iso6",
                "mp41",
                "mp42",
                "avc1",
                "dash",
                "mmp4",
                "MSNV",
                "f4v ",
            }
        ),
        "video/mp4",
    ),
)


class MediaFamily(enum.StrEnum):
    """Broad kind of content, which decides how metadata is read."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    EMPTY = "empty"
    OTHER = "other"


class DetectedBy(enum.StrEnum):
    """What decided the MIME type."""

    LIBMAGIC = "libmagic"
    FTYP_BRAND = "ftyp-brand"
    BUILTIN = "builtin-signatures"
    """libmagic was unavailable; a small built-in table of signatures was used (degraded)."""


@dataclass(frozen=True)
class MediaType:
    """What a file is, judged from its content."""

    mime: str
    """MIME type from the content, e.g. ``image/jpeg``; ``application/x-empty`` for no bytes."""
    family: MediaFamily
    """Broad kind of content (image, video, ...)."""
    description: str
    """libmagic's description for people (empty when libmagic was unavailable)."""
    detected_by: DetectedBy
    """Which method decided `mime`."""
    extension: str
    """The name's extension, lower case, without the dot; empty when the name has none."""
    extension_mismatch: bool
    """True when the extension claims a type the content is not (a PNG named ``.jpg``)."""
    brands: tuple[str, ...] = ()
    """ISO-BMFF major brand then compatible brands, when the file starts with an ``ftyp`` box."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values with a stable shape (goes into signed log entries)."""
        return {
            "brands": list(self.brands),
            "description": self.description,
            "detected_by": str(self.detected_by),
            "extension": self.extension,
            "extension_mismatch": self.extension_mismatch,
            "family": str(self.family),
            "mime": self.mime,
        }


class StructureVerdict(enum.StrEnum):
    """Result of walking a file's container framing."""

    INTACT = "intact"
    DAMAGED = "damaged"
    NOT_CHECKED = "not-checked"
    """No check exists for this type, or the file was too large to walk within the budget."""


class StructureProblem(enum.StrEnum):
    """Named reasons a file's structure is damaged."""

    EMPTY = "empty"
    BAD_SIGNATURE = "bad-signature"
    TRUNCATED = "truncated"
    """The file ends before its framing says it should (no end marker, a box cut short)."""
    BAD_CHECKSUM = "bad-checksum"
    BAD_FRAMING = "bad-framing"
    """A length, box type or marker makes no sense."""
    UNREADABLE = "unreadable"
    """The file could not be read (I/O error)."""


@dataclass(frozen=True)
class StructureCheck:
    """Outcome of `check_structure`."""

    verdict: StructureVerdict
    problem: StructureProblem | None = None
    """Why it is damaged (None when intact or not checked)."""
    detail: str = ""
    """Where the problem is, for people (offsets, chunk names)."""


def family_of(mime: str) -> MediaFamily:
    """The broad family of a MIME type."""
    if mime in ("application/x-empty", "inode/x-empty"):
        return MediaFamily.EMPTY
    major = mime.split("/", 1)[0]
    if major == "image":
        return MediaFamily.IMAGE
    if major == "video":
        return MediaFamily.VIDEO
    if major == "audio":
        return MediaFamily.AUDIO
    if major == "text" or mime in ("application/pdf", "application/json"):
        return MediaFamily.DOCUMENT
    return MediaFamily.OTHER


def extension_of(name: str) -> str:
    """Lower-case extension of a file name without the dot; '' when there is none or it is not
    1-10 ASCII letters and digits (it goes into signed entries: no control characters, and never
    a 12-digit number such as an IIN)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    ext = base.rsplit(".", 1)[-1].lower()
    return ext if 1 <= len(ext) <= 10 and ext.isascii() and ext.isalnum() else ""


def ftyp_brands(head: bytes) -> tuple[str, ...]:
    """Major and compatible brands of a leading ISO-BMFF ``ftyp`` box; () when there is none."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return ()
    size = struct.unpack(">I", head[0:4])[0]
    if size < 16 or size > 4096:
        return ()
    end = min(size, len(head))
    raw = [head[8:12]] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    brands = []
    for b in raw:
        text = b.decode("latin-1")
        if text.isprintable():
            brands.append(text)
    return tuple(brands)


def _mime_from_brands(brands: tuple[str, ...]) -> str | None:
    present = set(brands)
    for group, mime in _BRAND_TYPES:  # most specific first: mif1 + heic is a HEIC
        if group & present:
            return mime
    return None


def _builtin_mime(head: bytes) -> str:
    if not head:
        return "application/x-empty"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/x-matroska"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return "text/plain"
    return "application/octet-stream"


_magic_cache: dict[bool, Any] = {}


def _libmagic(head: bytes) -> tuple[str, str] | None:
    """(mime, description) from libmagic, or None when libmagic cannot be used."""
    try:
        if not _magic_cache:
            import magic  # imported lazily: a missing libmagic degrades, it does not crash

            _magic_cache[True] = magic.Magic(mime=True)
            _magic_cache[False] = magic.Magic(mime=False)
        mime = str(_magic_cache[True].from_buffer(head))
        description = str(_magic_cache[False].from_buffer(head))
    except Exception:
        return None
    return mime, description


def sniff(head: bytes, name: str) -> MediaType:
    """Media type of a file from its first bytes (`HEAD_BYTES` are enough) and its name.

    Pure apart from libmagic: the name is used only to say whether its extension disagrees.
    """
    head = head[:HEAD_BYTES]
    brands = ftyp_brands(head)
    found = _libmagic(head)
    if found is None:
        mime, description, detected_by = _builtin_mime(head), "", DetectedBy.BUILTIN
    else:
        mime, description = found
        detected_by = DetectedBy.LIBMAGIC
    brand_mime = _mime_from_brands(brands)
    if brand_mime is not None and brand_mime != mime:
        mime, detected_by = brand_mime, DetectedBy.FTYP_BRAND
    ext = extension_of(name)
    claims = _EXTENSION_CLAIMS.get(ext)
    mismatch = claims is not None and mime not in claims
    return MediaType(
        mime=mime,
        family=family_of(mime),
        description=description,
        detected_by=detected_by,
        extension=ext,
        extension_mismatch=mismatch,
        brands=brands,
    )


def detect_media_type(path: str | os.PathLike[str], name: str | None = None) -> MediaType:
    """Media type of the file at `path`, from its content (only the first bytes are read).

    `name` is the name the file arrived with, when `path` is not it (a stored object); the
    extension check uses it. Raises OSError only when the file cannot be opened or read.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    return sniff(head, p.name if name is None else name)


# --- structure checks --------------------------------------------------------------------


class _Budget:
    """Counts bytes read; a check that exceeds it gives no verdict rather than reading on."""

    def __init__(self, fh: BinaryIO, limit: int, steps: int = 100_000) -> None:
        self.fh = fh
        self.left = limit
        self.steps = steps

    def tick(self) -> None:
        """Count one segment, chunk or box: a hostile file of tiny boxes must not spin long."""
        self.steps -= 1
        if self.steps < 0:
            raise _OverBudget

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise _OverBudget
        data = self.fh.read(n)
        self.left -= len(data)
        return data


class _OverBudget(Exception):
    pass


def _damaged(problem: StructureProblem, detail: str) -> StructureCheck:
    return StructureCheck(StructureVerdict.DAMAGED, problem, detail)


def _check_jpeg(b: _Budget, size: int) -> StructureCheck:
    if b.read(2) != b"\xff\xd8":
        return _damaged(StructureProblem.BAD_SIGNATURE, "no JPEG start-of-image marker")
    pos = 2
    while True:
        b.tick()
        hdr = b.read(2)
        if len(hdr) < 2:
            return _damaged(StructureProblem.TRUNCATED, f"file ends in the headers at {pos}")
        if hdr[0] != 0xFF:
            return _damaged(StructureProblem.BAD_FRAMING, f"expected a marker at offset {pos}")
        marker = hdr[1]
        pos += 2
        if marker == 0xFF:  # fill byte
            b.fh.seek(pos - 1)
            pos -= 1
            continue
        if marker == 0xD9:
            return _damaged(StructureProblem.BAD_FRAMING, "end-of-image before any image data")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        raw = b.read(2)
        if len(raw) < 2:
            return _damaged(StructureProblem.TRUNCATED, f"file ends in a segment at {pos}")
        length = struct.unpack(">H", raw)[0]
        if length < 2:
            return _damaged(StructureProblem.BAD_FRAMING, f"segment length {length} at {pos}")
        if pos + length > size:
            return _damaged(StructureProblem.TRUNCATED, f"segment at {pos} runs past the end")
        pos += length
        b.fh.seek(pos)
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to FFD9
            break
    # The end-of-image marker is looked for from the end backwards: a whole photo has it in
    # its last bytes (perhaps followed by a few bytes a phone appends), so one small piece is
    # read instead of the whole image; the verdict is the same as a scan forwards (is there
    # an FFD9 anywhere after the headers?), and a truncated photo is still read down to them.
    end, step, carry = size, _TAIL, b""
    while end > pos:
        start = max(pos, end - step)
        b.fh.seek(start)
        chunk = b.read(end - start)
        if len(chunk) != end - start:
            return _damaged(StructureProblem.TRUNCATED, "the file shrank while it was read")
        if (chunk + carry).find(b"\xff\xd9") >= 0:
            return StructureCheck(StructureVerdict.INTACT)
        carry, end, step = chunk[:1], start, _CHUNK
    return _damaged(StructureProblem.TRUNCATED, "no JPEG end-of-image marker")


def _check_png(b: _Budget, size: int) -> StructureCheck:
    if b.read(8) != b"\x89PNG\r\n\x1a\n":
        return _damaged(StructureProblem.BAD_SIGNATURE, "no PNG signature")
    pos, first = 8, True
    while True:
        b.tick()
        hdr = b.read(8)
        if len(hdr) < 8:
            return _damaged(StructureProblem.TRUNCATED, f"file ends before IEND (offset {pos})")
        length, ctype = struct.unpack(">I4s", hdr)
        name = ctype.decode("latin-1")
        if not ctype.isalpha() or length > 0x7FFFFFFF:
            return _damaged(StructureProblem.BAD_FRAMING, f"bad chunk header at offset {pos}")
        if first and ctype != b"IHDR":
            return _damaged(StructureProblem.BAD_FRAMING, "first chunk is not IHDR")
        first = False
        if pos + 12 + length > size:
            return _damaged(StructureProblem.TRUNCATED, f"chunk {name} at {pos} runs past the end")
        crc = zlib.crc32(ctype)
        left = length
        while left:
            part = b.read(min(left, _CHUNK))
            crc = zlib.crc32(part, crc)
            left -= len(part)
        stored = struct.unpack(">I", b.read(4))[0]
        if stored != crc & 0xFFFFFFFF:
            return _damaged(StructureProblem.BAD_CHECKSUM, f"CRC mismatch in {name} at {pos}")
        pos += 12 + length
        if ctype == b"IEND":
            return StructureCheck(StructureVerdict.INTACT)


def _check_bmff(b: _Budget, size: int) -> StructureCheck:
    pos, seen = 0, []
    while pos < size:
        b.tick()
        b.fh.seek(pos)
        hdr = b.read(8)
        if len(hdr) < 8:
            return _damaged(StructureProblem.TRUNCATED, f"box header cut at offset {pos}")
        box_size, btype = struct.unpack(">I4s", hdr)
        if not all(32 <= c < 127 for c in btype):
            return _damaged(StructureProblem.BAD_FRAMING, f"unreadable box type at offset {pos}")
        head_len = 8
        if box_size == 1:
            big = b.read(8)
            if len(big) < 8:
                return _damaged(StructureProblem.TRUNCATED, f"box header cut at offset {pos}")
            box_size, head_len = struct.unpack(">Q", big)[0], 16
        elif box_size == 0:
            box_size = size - pos
        name = btype.decode("latin-1")
        if box_size < head_len:
            return _damaged(StructureProblem.BAD_FRAMING, f"box {name!r} at {pos}: size {box_size}")
        if pos + box_size > size:
            return _damaged(
                StructureProblem.TRUNCATED,
                f"box {name!r} at {pos} needs {box_size} bytes, {size - pos} left",
            )
        seen.append(name)
        pos += box_size
    if "ftyp" not in seen[:1]:
        return _damaged(StructureProblem.BAD_FRAMING, "first box is not ftyp")
    if not ({"moov", "meta", "moof"} & set(seen)):
        return _damaged(StructureProblem.BAD_FRAMING, "no moov or meta box")
    return StructureCheck(StructureVerdict.INTACT)


def check_structure(
    path: str | os.PathLike[str], media_type: MediaType, *, limit: int = STRUCTURE_SCAN_LIMIT
) -> StructureCheck:
    """Walk the container framing of a JPEG, PNG or ISO-BMFF file (HEIC, MP4, MOV).

    Never raises and never holds more than about 1 MiB in memory; streams at most `limit` bytes
    (NOT_CHECKED beyond that). Other types are NOT_CHECKED; an empty file is DAMAGED/EMPTY.
    """
    try:
        size = os.stat(path).st_size
        if size == 0:
            return _damaged(StructureProblem.EMPTY, "the file has no bytes")
        if media_type.mime == "image/jpeg":
            walker = _check_jpeg
        elif media_type.mime == "image/png":
            walker = _check_png
        elif media_type.brands:
            walker = _check_bmff
        else:
            return StructureCheck(StructureVerdict.NOT_CHECKED)
        with open(path, "rb") as fh:
            return walker(_Budget(fh, limit), size)
    except _OverBudget:
        return StructureCheck(StructureVerdict.NOT_CHECKED, None, f"larger than {limit} bytes")
    except OSError as exc:
        return _damaged(StructureProblem.UNREADABLE, f"{type(exc).__name__}: {exc.strerror}")
    except (struct.error, ValueError) as exc:
        return _damaged(StructureProblem.BAD_FRAMING, f"{type(exc).__name__}")


# --- HEIF Exif item --------------------------------------------------------------------------

HEIF_EXIF_LIMIT = 1024 * 1024
"""Largest Exif item `heif_exif` returns."""


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes laid end to end in data[start:end]."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < 1000:
        size, btype = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1 and pos + 16 <= end:
            size, head = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.append((btype, pos + head, pos + size))
        pos += size
    return out


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    if size == 0:
        return 0, pos
    if pos + size > len(data):
        raise ValueError("field past the end of its box")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def _exif_item_id(data: bytes, start: int, end: int) -> int | None:
    version = data[start]
    pos = start + 4
    _, pos = _uint(data, pos, 2 if version == 0 else 4)
    for btype, s, _e in _boxes(data, pos, end):
        if btype != b"infe" or data[s] < 2:
            continue
        item_id, p = _uint(data, s + 4, 2 if data[s] == 2 else 4)
        if data[p + 2 : p + 6] == b"Exif":
            return item_id
    return None


def _exif_extent(data: bytes, start: int, end: int, want: int) -> tuple[int, int, int] | None:
    """(construction method, offset, length) of item `want` in an ``iloc`` box."""
    version = data[start]
    pos = start + 4
    sizes, pos = _uint(data, pos, 2)
    off_size, len_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, (sizes & 0xF) if version in (1, 2) else 0
    count, pos = _uint(data, pos, 2 if version < 2 else 4)
    for _ in range(min(count, 10_000)):
        item_id, pos = _uint(data, pos, 2 if version < 2 else 4)
        method = 0
        if version in (1, 2):
            raw, pos = _uint(data, pos, 2)
            method = raw & 0xF
        _, pos = _uint(data, pos, 2)  # data_reference_index
        base, pos = _uint(data, pos, base_size)
        extents, pos = _uint(data, pos, 2)
        found = None
        for _ in range(extents):
            _, pos = _uint(data, pos, index_size)
            offset, pos = _uint(data, pos, off_size)
            length, pos = _uint(data, pos, len_size)
            if found is None:
                found = (method, base + offset, length)
        if item_id == want:
            return found if extents == 1 else None
    return None


def heif_exif(head: bytes, fh: BinaryIO | None = None) -> bytes | None:
    """The TIFF block of the Exif item of a HEIC/HEIF/AVIF file, or None.

    `head` must hold the ``ftyp`` and ``meta`` boxes (they come first in phone photos); the item
    itself is read from `fh` when it lies beyond `head`. Follows ``iinf`` and ``iloc`` (file
    offsets and ``idat``), skips the item's TIFF-header offset, returns at most 1 MiB. Never
    raises on malformed input.
    """
    try:
        top = _boxes(head, 0, len(head))
        meta = next(((s, e) for t, s, e in top if t == b"meta"), None)
        if meta is None:
            return None
        subs = _boxes(head, meta[0] + 4, meta[1])
        where = {t: (s, e) for t, s, e in subs}
        if b"iinf" not in where or b"iloc" not in where:
            return None
        item = _exif_item_id(head, *where[b"iinf"])
        if item is None:
            return None
        extent = _exif_extent(head, *where[b"iloc"], item)
        if extent is None:
            return None
        method, offset, length = extent
        if length < 4 or length > HEIF_EXIF_LIMIT:
            return None
        if method == 1 and b"idat" in where:
            offset += where[b"idat"][0]
        elif method != 0:
            return None
        if offset + length <= len(head):
            block = head[offset : offset + length]
        elif fh is not None:
            fh.seek(offset)
            block = fh.read(length)
        else:
            return None
        skip = int.from_bytes(block[:4], "big") + 4
        tiff = block[skip:]
        return tiff if tiff[:4] in (b"MM\x00*", b"II*\x00") else None
    except (ValueError, IndexError, struct.error, OSError):
        return None
