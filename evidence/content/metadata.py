"""What a file says about itself, each value with its source, and the flags a court will ask about.

`extract_metadata` reads EXIF from photos (exifread, through a reader with a byte budget so a
multi-GB or hostile file is never read whole) and container tags from videos (ffprobe, through a
thin wrapper with a timeout). It never raises on the file: a damaged, empty or hostile file gives
a result that says so. `Metadata.to_dict()` is the stable, JSON-able form that goes into signed
custody entries. Flags are named reasons (`FlagReason`) with the value that triggered each;
`evidence.content.flag_text.flag_message` builds the sentence for people in Russian, Kazakh or
English.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from evidence.content.ffprobe import (
    FFPROBE_TIMEOUT_S,
    ProbeStatus,
    clean_text,
    parse_media_time,
    run_ffprobe,
)
from evidence.content.media import (
    MediaFamily,
    MediaType,
    StructureCheck,
    StructureProblem,
    StructureVerdict,
    check_structure,
    heif_exif,
)

DEFAULT_MAX_DISTANCE_KM = 1.0
"""How far from the precinct a photo's GPS may be before it is flagged."""
DEFAULT_CAMERA_UTC_OFFSET = timedelta(hours=5)
"""Offset assumed for an EXIF time that carries none: Kazakhstan is UTC+5 since 1 March 2024."""
EXIF_READ_BUDGET = 16 * 1024 * 1024
"""Bytes the EXIF reader may read from one file before it gives up."""
_HEAD_SCAN = 256 * 1024
_MAX_TEXT = 200
_EARTH_RADIUS_KM = 6371.0088

EDITING_SOFTWARE = (
    "photoshop",
    "lightroom",
    "gimp",
    "snapseed",
    "affinity photo",
    "pixelmator",
    "picsart",
    "facetune",
    "vsco",
    "paint.net",
    "photopea",
    "canva",
    "darktable",
    "rawtherapee",
    "luminar",
    "capture one",
    "photoscape",
    "fotor",
    "polarr",
    "meitu",
    "airbrush",
    "remini",
    "corel",
    "premiere",
    "after effects",
    "final cut",
    "davinci resolve",
    "capcut",
    "inshot",
    "kinemaster",
    "imovie",
    "filmora",
    "vn video editor",
    "powerdirector",
)
"""Lower-case names whose presence in a software tag means an editor touched the file."""

logging.getLogger("exifread").setLevel(logging.ERROR)


class Source(enum.StrEnum):
    """Where a recorded value comes from."""

    FILE_METADATA = "file-metadata"
    """Written inside the file by the device or software that made it: not proof by itself."""
    DALEL_CLOCK = "dalel-clock"
    """Our own clock, when we received the file."""


class Extractor(enum.StrEnum):
    """Which reader was used."""

    EXIF = "exif"
    FFPROBE = "ffprobe"
    NONE = "none"


class Status(enum.StrEnum):
    """How extraction went."""

    OK = "ok"
    NOT_APPLICABLE = "not-applicable"
    """No metadata reader for this type (text, unknown data)."""
    UNREADABLE = "unreadable"
    """The reader failed on this file (damaged or hostile); the file is still evidence."""
    DEGRADED = "degraded"
    """The reader could not run (ffprobe missing or too slow); nothing was concluded."""


class FlagReason(enum.StrEnum):
    """Named reasons a court will ask about."""

    CAPTURE_AFTER_RECEIPT = "capture-after-receipt"
    EDITING_SOFTWARE = "editing-software"
    METADATA_MISSING = "metadata-missing"
    GPS_FAR_FROM_PRECINCT = "gps-far-from-precinct"
    METADATA_UNREADABLE = "metadata-unreadable"
    FILE_DAMAGED = "file-damaged"
    EMPTY_FILE = "empty-file"
    EXTENSION_MISMATCH = "extension-mismatch"
    EXTRACTOR_UNAVAILABLE = "extractor-unavailable"


@dataclass(frozen=True)
class Field:
    """One recorded value."""

    name: str
    """Stable field name: capture_time, camera_make, gps_latitude, duration_s, ..."""
    value: str | int | float
    source: Source
    origin: str = ""
    """Where in the file (e.g. ``EXIF DateTimeOriginal``, ``ffprobe format.tags.location``)."""
    note: str = ""
    """An assumption made in reading it (e.g. the UTC offset assumed for a time without one)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        out: dict[str, Any] = {"source": str(self.source), "value": self.value}
        if self.origin:
            out["origin"] = self.origin
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Flag:
    """Something a court will ask about, with the value that triggered it."""

    reason: FlagReason
    value: Any
    """JSON-able: the value (or a small dict of values) that triggered the flag."""
    field: str = ""
    """The field concerned, when there is one."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"field": self.field, "reason": str(self.reason), "value": self.value}


@dataclass(frozen=True)
class Metadata:
    """Everything extracted from one file."""

    mime: str
    extractor: Extractor
    status: Status
    fields: tuple[Field, ...]
    """Sorted by name; absent values are simply not there."""
    flags: tuple[Flag, ...]
    """Sorted by reason then field."""
    structure: StructureCheck
    """Outcome of walking the file's container framing."""

    def get(self, name: str) -> Field | None:
        """The field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def reasons(self) -> frozenset[FlagReason]:
        """The set of flag reasons raised."""
        return frozenset(f.reason for f in self.flags)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON-able form for signed log entries (key order does not matter; lists are
        sorted; floats are rounded where they are produced)."""
        return {
            "extractor": str(self.extractor),
            "fields": {f.name: f.to_dict() for f in self.fields},
            "flags": [f.to_dict() for f in self.flags],
            "mime": self.mime,
            "status": str(self.status),
            "structure": {
                "detail": self.structure.detail,
                "problem": str(self.structure.problem) if self.structure.problem else None,
                "verdict": str(self.structure.verdict),
            },
        }


# --- small pure helpers ----------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime: ``Z`` for UTC, else ``+HH:MM``."""
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_ISO6709 = re.compile(
    r"^([+-])(\d+(?:\.\d+)?)([+-])(\d+(?:\.\d+)?)(?:[+-]\d+(?:\.\d+)?)?(?:CRS.*)?/?$"
)


def _iso6709_part(digits: str, deg_width: int) -> float | None:
    whole, _, frac = digits.partition(".")
    frac_v = float("0." + frac) if frac else 0.0
    n = len(whole)
    if n == deg_width:
        return int(whole) + frac_v
    if n == deg_width + 2:
        return int(whole[:deg_width]) + (int(whole[deg_width:]) + frac_v) / 60
    if n == deg_width + 4:
        return (
            int(whole[:deg_width])
            + int(whole[deg_width : deg_width + 2]) / 60
            + (int(whole[deg_width + 2 :]) + frac_v) / 3600
        )
    return None


def parse_iso6709(text: str) -> tuple[float, float] | None:
    """(lat, lon) from an ISO 6709 point such as ``+43.2389+076.8897/`` (degrees, DDMM or
    DDMMSS forms, optional altitude); None when it is not one or is out of range."""
    m = _ISO6709.match(text.strip())
    if not m:
        return None
    lat = _iso6709_part(m.group(2), 2)
    lon = _iso6709_part(m.group(4), 3)
    if lat is None or lon is None:
        return None
    lat, lon = (-lat if m.group(1) == "-" else lat), (-lon if m.group(3) == "-" else lon)
    return (lat, lon) if _valid_point(lat, lon) else None


def _valid_point(lat: float, lon: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180


def editing_software_in(text: str) -> str | None:
    """The editor named in a software string, or None (case-insensitive)."""
    low = text.lower()
    return next((name for name in EDITING_SOFTWARE if name in low), None)


def _parse_offset(text: str) -> timedelta | None:
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if not m:
        return None
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return -delta if m.group(1) == "-" else delta


def _format_offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- EXIF ----------------------------------------------------------------------------------


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
    return (lat, lon) if _valid_point(lat, lon) else None


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
        offset = _parse_offset(text(offset_key))
        note = ""
        if offset is None:
            offset = assumed_offset
            note = f"no UTC offset in the file; assumed {_format_offset(offset)}"
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


def _head_software(path: Path) -> list[Field]:
    """Software named in XMP or PNG text chunks within the first bytes of the file."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_SCAN)
    out: list[Field] = []
    for i, m in enumerate(_XMP_TOOL.finditer(head)):
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


def _video_fields(data: dict[str, Any]) -> tuple[list[Field], list[Flag]]:
    fm = Source.FILE_METADATA
    fields: list[Field] = []
    problems: list[Flag] = []
    raw_fmt = data.get("format")
    fmt: dict[str, Any] = raw_fmt if isinstance(raw_fmt, dict) else {}
    streams = [s for s in data.get("streams", []) if isinstance(s, dict)]
    ftags = {str(k).lower(): v for k, v in (fmt.get("tags") or {}).items()}

    if container := clean_text(fmt.get("format_name", "")):
        fields.append(Field("container", container, fm, "ffprobe format.format_name"))
    try:
        duration = float(str(fmt.get("duration")))
        if math.isfinite(duration) and duration >= 0:
            fields.append(Field("duration_s", round(duration, 3), fm, "ffprobe format.duration"))
    except (TypeError, ValueError):
        pass
    for kind in ("video", "audio"):
        stream = next((s for s in streams if s.get("codec_type") == kind), None)
        if stream is None:
            continue
        if codec := clean_text(stream.get("codec_name", "")):
            fields.append(Field(f"{kind}_codec", codec, fm, f"ffprobe {kind} stream codec_name"))
        if kind == "video":
            for dim in ("width", "height"):
                if isinstance(stream.get(dim), int):
                    fields.append(Field(dim, stream[dim], fm, f"ffprobe video stream {dim}"))

    stream_tags = [{str(k).lower(): v for k, v in (s.get("tags") or {}).items()} for s in streams]
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        raw = ftags.get(key) or next((t[key] for t in stream_tags if key in t), None)
        if raw is None:
            continue
        moment = parse_media_time(str(raw))
        if moment is None:
            problems.append(Flag(FlagReason.METADATA_UNREADABLE, clean_text(raw), "capture_time"))
        else:
            fields.append(Field("capture_time", rfc3339(moment), fm, f"ffprobe tags.{key}"))
        break
    for key in ("com.apple.quicktime.location.iso6709", "location", "location-eng"):
        if key not in ftags:
            continue
        point = parse_iso6709(str(ftags[key]))
        if point is None:
            problems.append(Flag(FlagReason.METADATA_UNREADABLE, clean_text(ftags[key]), "gps"))
        else:
            fields.append(Field("gps_latitude", round(point[0], 7), fm, f"ffprobe tags.{key}"))
            fields.append(Field("gps_longitude", round(point[1], 7), fm, f"ffprobe tags.{key}"))
        break
    for name, keys in (
        ("camera_make", ("com.apple.quicktime.make", "make")),
        ("camera_model", ("com.apple.quicktime.model", "model")),
        ("software", ("com.apple.quicktime.software", "software")),
        ("encoder", ("encoder",)),
    ):
        for key in keys:
            if value := clean_text(ftags.get(key, "")):
                fields.append(Field(name, value, fm, f"ffprobe tags.{key}"))
                break
    return fields, problems


# --- flags and the entry point ---------------------------------------------------------------

_KEY_FIELDS = ("capture_time", "camera_make", "camera_model", "gps_latitude")
_SOFTWARE_FIELDS = ("software", "processing_software", "encoder")


def _court_flags(
    fields: list[Field],
    received_at: datetime,
    precinct_location: tuple[float, float] | None,
    max_distance_km: float,
) -> list[Flag]:
    by = {f.name: f for f in fields}
    flags: list[Flag] = []
    if "capture_time" in by:
        taken = parse_media_time(str(by["capture_time"].value))
        if taken is not None and taken > received_at:
            flags.append(
                Flag(
                    FlagReason.CAPTURE_AFTER_RECEIPT,
                    {
                        "capture_time": by["capture_time"].value,
                        "received_at": rfc3339(received_at),
                    },
                    "capture_time",
                )
            )
    for f in fields:
        if f.name in _SOFTWARE_FIELDS or f.name.startswith("xmp_software"):
            editor = editing_software_in(str(f.value))
            if editor is not None:
                flags.append(Flag(FlagReason.EDITING_SOFTWARE, f.value, f.name))
    if not any(name in by for name in _KEY_FIELDS):
        flags.append(
            Flag(
                FlagReason.METADATA_MISSING,
                sorted(["camera_make", "camera_model", "capture_time", "gps"]),
                "",
            )
        )
    if precinct_location is not None and "gps_latitude" in by and "gps_longitude" in by:
        point = (float(by["gps_latitude"].value), float(by["gps_longitude"].value))
        km = distance_km(point, precinct_location)
        if km > max_distance_km:
            flags.append(
                Flag(
                    FlagReason.GPS_FAR_FROM_PRECINCT,
                    {
                        "distance_km": round(km, 3),
                        "gps": [point[0], point[1]],
                        "max_distance_km": max_distance_km,
                        "precinct": [precinct_location[0], precinct_location[1]],
                    },
                    "gps",
                )
            )
    return flags


def extract_metadata(
    path: str | os.PathLike[str],
    media_type: MediaType,
    *,
    received_at: datetime,
    precinct_location: tuple[float, float] | None = None,
    max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
    camera_utc_offset: timedelta = DEFAULT_CAMERA_UTC_OFFSET,
    ffprobe_timeout_s: float = FFPROBE_TIMEOUT_S,
) -> Metadata:
    """Read what the file at `path` says about itself and flag what a court will ask about.

    `media_type` comes from `detect_media_type` (the type decides the reader). `received_at`
    must be timezone-aware (our clock); it is recorded with source ``dalel-clock``. An EXIF time
    without a UTC offset is read with `camera_utc_offset`, and the field notes that assumption.
    Never raises because of the file's content; raises ValueError only for a naive
    `received_at`.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    p = Path(path)
    fields = [
        Field(
            "received_at", rfc3339(received_at.astimezone(UTC)), Source.DALEL_CLOCK, "dalel ingest"
        )
    ]
    flags: list[Flag] = []
    if media_type.extension_mismatch:
        flags.append(
            Flag(
                FlagReason.EXTENSION_MISMATCH,
                {"content": media_type.mime, "extension": media_type.extension},
                "",
            )
        )
    structure = check_structure(p, media_type)
    extractor, status = Extractor.NONE, Status.NOT_APPLICABLE
    read: list[Field] = []
    if media_type.family is MediaFamily.EMPTY or structure.problem is StructureProblem.EMPTY:
        flags.append(Flag(FlagReason.EMPTY_FILE, 0, ""))
    elif media_type.family is MediaFamily.IMAGE:
        extractor, status, read, problems = _extract_image(
            p, camera_utc_offset, bool(media_type.brands)
        )
        flags += problems
    elif media_type.family in (MediaFamily.VIDEO, MediaFamily.AUDIO):
        try:
            extractor, status, read, problems = _extract_video(p, ffprobe_timeout_s)
        except OSError as exc:  # no temporary file for ffprobe's output: environment, not file
            extractor, status, read = Extractor.FFPROBE, Status.DEGRADED, []
            problems = [
                Flag(
                    FlagReason.EXTRACTOR_UNAVAILABLE,
                    {"detail": f"{type(exc).__name__}", "status": "os-error"},
                    "",
                )
            ]
        flags += problems
    damaged = structure.verdict is StructureVerdict.DAMAGED
    if damaged and structure.problem is not StructureProblem.EMPTY:
        flags.append(
            Flag(
                FlagReason.FILE_DAMAGED,
                {"detail": structure.detail, "problem": str(structure.problem)},
                "",
            )
        )
        if status is Status.OK and not read:
            status = Status.UNREADABLE
            flags.append(Flag(FlagReason.METADATA_UNREADABLE, str(structure.problem), ""))
    fields += read
    if status is Status.OK:
        flags += _court_flags(read, received_at, precinct_location, max_distance_km)
    unique = {(f.reason, f.field, json.dumps(f.value, sort_keys=True)): f for f in flags}
    return Metadata(
        mime=media_type.mime,
        extractor=extractor,
        status=status,
        fields=tuple(sorted(fields, key=lambda f: f.name)),
        flags=tuple(
            sorted(
                unique.values(),
                key=lambda f: (f.reason, f.field, json.dumps(f.value, sort_keys=True)),
            )
        ),
        structure=structure,
    )


def _extract_image(
    path: Path, offset: timedelta, iso_media: bool
) -> tuple[Extractor, Status, list[Field], list[Flag]]:
    try:
        tags = _read_exif(path, iso_media)
        fields, problems = _exif_fields(tags, offset)
        fields += [f for f in _head_software(path) if f.name not in {g.name for g in fields}]
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


def _extract_video(
    path: Path, timeout_s: float
) -> tuple[Extractor, Status, list[Field], list[Flag]]:
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
