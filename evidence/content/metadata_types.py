"""The values metadata extraction records, and the pure helpers that read and compare them.

`Field` is one recorded value with its `Source`; `Flag` is a named reason (`FlagReason`) a court
will ask about, with the value that triggered it; `Metadata` is everything extracted from one
file, with the stable `to_dict()` form that goes into signed custody entries. The helpers here
(RFC 3339 text, great-circle distance, ISO 6709 points, UTC offsets, editor names) do no I/O.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from evidence.content.media import StructureCheck

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
    MP4_BOXES = "mp4-boxes"
    """The boxes of an MP4, MOV or 3GP read in this process (:mod:`evidence.content.mp4boxes`)."""
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
    return (lat, lon) if valid_point(lat, lon) else None


def valid_point(lat: float, lon: float) -> bool:
    """True when (lat, lon) is a finite point on Earth (|lat| <= 90, |lon| <= 180)."""
    return math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180


def editing_software_in(text: str) -> str | None:
    """The editor named in a software string, or None (case-insensitive)."""
    low = text.lower()
    return next((name for name in EDITING_SOFTWARE if name in low), None)


def parse_offset(text: str) -> timedelta | None:
    """The UTC offset written as ``+05:00`` or ``-0330`` (as in EXIF OffsetTime), or None."""
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if not m:
        return None
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return -delta if m.group(1) == "-" else delta


def format_offset(delta: timedelta) -> str:
    """``+HH:MM`` text of a UTC offset."""
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
