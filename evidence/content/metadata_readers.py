"""The readers behind `extract_metadata`: EXIF from photos, software named in a file's first
bytes (XMP, PNG text), and container tags from videos (their boxes, or ffprobe).

Each reader turns what it finds into `Field`s and `Flag`s and never raises because of the file:
the EXIF reader works through a view with a byte budget (hostile offsets and counts must not make
us read a multi-GB file), and a reader that fails says so in its status and flags.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from evidence.content import mp4boxes
from evidence.content.ffprobe import ProbeStatus, clean_text, parse_media_time, run_ffprobe
from evidence.content.media import heif_exif
from evidence.content.metadata_types import (
    Extractor,
    Field,
    Flag,
    FlagReason,
    Source,
    Status,
    format_offset,
    parse_iso6709,
    parse_offset,
    rfc3339,
    valid_point,
)

EXIF_READ_BUDGET = 16 * 1024 * 1024
"""Bytes the EXIF reader may read from one file before it gives up."""
HEAD_SCAN = 256 * 1024
"""Bytes at the start of a file searched for software named in XMP or PNG text."""
_HEAD_SCAN = HEAD_SCAN

logging.getLogger("exifread").setLevel(logging.ERROR)


class _BudgetReader:
    """A read-only file view that refuses to read more than a budget (hostile offsets and
    counts in EXIF must not make us read a multi-GB file or allocate its size)."""

    def __init__(self, fh: BinaryIO, budget: int) -> None:
        self._fh = fh
        self._left = budget

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            raise _ExifBudgetExceeded
        data = self._fh.read(n)
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


class _ExifBudgetExceeded(Exception):
    pass


def _ratio(v: Any) -> float:
    num, den = getattr(v, "numerator", v), getattr(v, "denominator", 1)
    if not den:
        raise ValueError("zero denominator")
    return float(num) / float(den)


def _exif_gps(tags: dict[str, Any]) -> tuple[float, float] | None:
    try:
        parts = []
        for key, neg in (("GPSLatitude", "S"), ("GPSLongitude", "W")):
            vals = tags[f"GPS {key}"].values
            deg = _ratio(vals[0]) + _ratio(vals[1]) / 60 + _ratio(vals[2]) / 3600
            ref = str(tags.get(f"GPS {key}Ref", "")).strip().upper()
            parts.append(-deg if ref.startswith(neg) else deg)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, ZeroDivisionError):
        return None
    lat, lon = round(parts[0], 7), round(parts[1], 7)
    return (lat, lon) if valid_point(lat, lon) else None


def _exif_fields(tags: dict[str, Any], assumed_offset: timedelta) -> tuple[list[Field], list[Flag]]:
    fm = Source.FILE_METADATA
    fields: list[Field] = []
    problems: list[Flag] = []

    def text(key: str) -> str:
        tag = tags.get(key)
        return clean_text(tag.printable if hasattr(tag, "printable") else tag) if tag else ""

    for name, key in (
        ("camera_make", "Image Make"),
        ("camera_model", "Image Model"),
        ("software", "Image Software"),
        ("processing_software", "Image ProcessingSoftware"),
    ):
        if value := text(key):
            fields.append(Field(name, value, fm, f"EXIF {key}"))
    orientation = tags.get("Image Orientation")
    if orientation is not None:
        try:
            fields.append(
                Field(
                    "orientation",
                    int(orientation.values[0]),
                    fm,
                    "EXIF Image Orientation",
                    clean_text(orientation.printable),
                )
            )
        except (AttributeError, IndexError, TypeError, ValueError):
            pass
    for key in ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized", "Image DateTime"):
        raw = text(key)
        if not raw:
            continue
        try:
            stamp = datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            problems.append(Flag(FlagReason.METADATA_UNREADABLE, raw, "capture_time"))
            break
        offset_key = "EXIF OffsetTimeOriginal" if "Original" in key else "EXIF OffsetTime"
        offset = parse_offset(text(offset_key))
        note = ""
        if offset is None:
            offset = assumed_offset
            note = f"no UTC offset in the file; assumed {format_offset(offset)}"
        moment = stamp.replace(tzinfo=timezone(offset))
        fields.append(Field("capture_time", rfc3339(moment), fm, key, note))
        break
    point = _exif_gps(tags)
    if point is not None:
        fields.append(Field("gps_latitude", point[0], fm, "EXIF GPS GPSLatitude"))
        fields.append(Field("gps_longitude", point[1], fm, "EXIF GPS GPSLongitude"))
    elif "GPS GPSLatitude" in tags:
        problems.append(Flag(FlagReason.METADATA_UNREADABLE, text("GPS GPSLatitude"), "gps"))
    return fields, problems


def _read_exif(path: Path, iso_media: bool) -> dict[str, Any]:
    """EXIF tags of a photo. For HEIC/HEIF/AVIF the Exif item is located by our own reading of
    the ``meta`` box (exifread's HEIC finder rejects the layout libheif and some phones write);
    exifread parses the TIFF block either way."""
    import io

    import exifread  # the reader for photos; imported here to keep import of this module light

    with open(path, "rb") as fh:
        tiff = heif_exif(fh.read(_HEAD_SCAN), fh) if iso_media else None
        source: Any = io.BytesIO(tiff) if tiff else _BudgetReader(fh, EXIF_READ_BUDGET)
        return dict(
            exifread.process_file(source, details=False, extract_thumbnail=False, strict=False)
        )


_XMP_TOOL = re.compile(
    rb"(?:xmp:CreatorTool|stEvt:softwareAgent)(?:=\"|>)([^\"<]{1,200})", re.IGNORECASE
)
_PNG_SOFTWARE = re.compile(rb"tEXtSoftware\x00([^\x00]{1,200})")


def _head_software(path: Path, head: bytes | None = None) -> list[Field]:
    """Software named in XMP or PNG text chunks within the first bytes of the file (given
    as ``head`` when already read: at least its first `HEAD_SCAN` bytes, or all of it)."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_SCAN)
    else:
        head = head[:_HEAD_SCAN]
    out: list[Field] = []
    # The case-insensitive pattern is costly over 256 KiB of image data: it runs only
    # where one of its names is there at all (the same matches, found in a fraction of
    # the time).
    lowered = head.lower()
    xmp = b"xmp:creatortool" in lowered or b"stevt:softwareagent" in lowered
    for i, m in enumerate(_XMP_TOOL.finditer(head) if xmp else ()):
        if i >= 4:
            break
        out.append(
            Field(
                f"xmp_software_{i}",
                clean_text(m.group(1)),
                Source.FILE_METADATA,
                "XMP CreatorTool/softwareAgent",
            )
        )
    if m2 := _PNG_SOFTWARE.search(head):
        out.append(
            Field("software", clean_text(m2.group(1)), Source.FILE_METADATA, "PNG tEXt Software")
        )
    return out


def _video_fields(data: dict[str, Any], by: str = "ffprobe") -> tuple[list[Field], list[Flag]]:
    """The fields of ffprobe's JSON (or of its shape, read by ``by``)."""
    fm = Source.FILE_METADATA
    fields: list[Field] = []
    problems: list[Flag] = []
    raw_fmt = data.get("format")
    fmt: dict[str, Any] = raw_fmt if isinstance(raw_fmt, dict) else {}
    streams = [s for s in data.get("streams", []) if isinstance(s, dict)]
    ftags = {str(k).lower(): v for k, v in (fmt.get("tags") or {}).items()}

    if container := clean_text(fmt.get("format_name", "")):
        fields.append(Field("container", container, fm, f"{by} format.format_name"))
    try:
        duration = float(str(fmt.get("duration")))
        if math.isfinite(duration) and duration >= 0:
            fields.append(Field("duration_s", round(duration, 3), fm, f"{by} format.duration"))
    except (TypeError, ValueError):
        pass
    for kind in ("video", "audio"):
        stream = next((s for s in streams if s.get("codec_type") == kind), None)
        if stream is None:
            continue
        if codec := clean_text(stream.get("codec_name", "")):
            fields.append(Field(f"{kind}_codec", codec, fm, f"{by} {kind} stream codec_name"))
        if kind == "video":
            for dim in ("width", "height"):
                if isinstance(stream.get(dim), int):
                    fields.append(Field(dim, stream[dim], fm, f"{by} video stream {dim}"))

    stream_tags = [{str(k).lower(): v for k, v in (s.get("tags") or {}).items()} for s in streams]
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        raw = ftags.get(key) or next((t[key] for t in stream_tags if key in t), None)
        if raw is None:
            continue
        moment = parse_media_time(str(raw))
        if moment is None:
            problems.append(Flag(FlagReason.METADATA_UNREADABLE, clean_text(raw), "capture_time"))
        else:
            fields.append(Field("capture_time", rfc3339(moment), fm, f"{by} tags.{key}"))
        break
    for key in ("com.apple.quicktime.location.iso6709", "location", "location-eng"):
        if key not in ftags:
            continue
        point = parse_iso6709(str(ftags[key]))
        if point is None:
            problems.append(Flag(FlagReason.METADATA_UNREADABLE, clean_text(ftags[key]), "gps"))
        else:
            fields.append(Field("gps_latitude", round(point[0], 7), fm, f"{by} tags.{key}"))
            fields.append(Field("gps_longitude", round(point[1], 7), fm, f"{by} tags.{key}"))
        break
    for name, keys in (
        ("camera_make", ("com.apple.quicktime.make", "make")),
        ("camera_model", ("com.apple.quicktime.model", "model")),
        ("software", ("com.apple.quicktime.software", "software")),
        ("encoder", ("encoder",)),
    ):
        for key in keys:
            if value := clean_text(ftags.get(key, "")):
                fields.append(Field(name, value, fm, f"{by} tags.{key}"))
                break
    return fields, problems


def read_image(
    path: Path, offset: timedelta, iso_media: bool, head: bytes | None = None
) -> tuple[Extractor, Status, list[Field], list[Flag]]:
    """EXIF fields of a photo, and software named in its first bytes, with the problems met.

    An EXIF time without a UTC offset is read with `offset`; `iso_media` says the file is
    HEIC/HEIF/AVIF (its Exif item is found in the ``meta`` box); ``head``: the file's first
    `HEAD_SCAN` bytes (or all of it) when already read. A reader failure or an
    exhausted read budget gives status ``unreadable`` with a ``metadata-unreadable`` flag.
    """
    try:
        tags = _read_exif(path, iso_media)
        fields, problems = _exif_fields(tags, offset)
        named = _head_software(path, head)
        fields += [f for f in named if f.name not in {g.name for g in fields}]
    except Exception as exc:
        reason = (
            "read budget exceeded"
            if isinstance(exc, _ExifBudgetExceeded)
            else (f"EXIF reader failed: {type(exc).__name__}")
        )
        return (
            Extractor.EXIF,
            Status.UNREADABLE,
            [],
            [Flag(FlagReason.METADATA_UNREADABLE, reason, "")],
        )
    return Extractor.EXIF, Status.OK, fields, problems


def read_video(path: Path, timeout_s: float) -> tuple[Extractor, Status, list[Field], list[Flag]]:
    """Container tags of a video or audio file, with the problems met: an MP4, MOV or 3GP
    read from its boxes in this process (:mod:`evidence.content.mp4boxes`) where that reader
    is sure to read it as ffprobe does; any other file, or one it is not sure of, by ffprobe.

    ffprobe missing or slower than `timeout_s` gives status ``degraded`` with an
    ``extractor-unavailable`` flag; ffprobe failing on the file, or output of an unexpected
    shape, gives status ``unreadable`` with a ``metadata-unreadable`` flag. May raise OSError
    when no temporary file can be made for ffprobe's output (the environment, not the file).
    """
    boxes = mp4boxes.probe(path)
    if boxes is not None:  # an MP4, MOV or 3GP read in this process
        try:
            fields, problems = _video_fields(boxes, by="mp4 boxes")
        except Exception:  # (of a shape the fields do not expect: ffprobe reads it)
            pass
        else:
            return Extractor.MP4_BOXES, Status.OK, fields, problems
    probe = run_ffprobe(path, timeout_s=timeout_s)
    if probe.status in (ProbeStatus.NOT_INSTALLED, ProbeStatus.TIMEOUT):
        return (
            Extractor.FFPROBE,
            Status.DEGRADED,
            [],
            [
                Flag(
                    FlagReason.EXTRACTOR_UNAVAILABLE,
                    {"detail": probe.detail, "status": str(probe.status)},
                    "",
                )
            ],
        )
    if probe.status is not ProbeStatus.OK:
        return (
            Extractor.FFPROBE,
            Status.UNREADABLE,
            [],
            [
                Flag(
                    FlagReason.METADATA_UNREADABLE,
                    {"detail": probe.detail, "status": str(probe.status)},
                    "",
                )
            ],
        )
    try:
        fields, problems = _video_fields(probe.data)
    except Exception as exc:
        return (
            Extractor.FFPROBE,
            Status.UNREADABLE,
            [],
            [
                Flag(
                    FlagReason.METADATA_UNREADABLE,
                    f"unexpected ffprobe output: {type(exc).__name__}",
                    "",
                )
            ],
        )
    return Extractor.FFPROBE, Status.OK, fields, problems
