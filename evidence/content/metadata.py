"""What a file says about itself, each value with its source, and the flags a court will ask about.

`extract_metadata` reads EXIF from photos (exifread, through a reader with a byte budget so a
multi-GB or hostile file is never read whole) and container tags from videos (ffprobe, through a
thin wrapper with a timeout). It never raises on the file: a damaged, empty or hostile file gives
a result that says so. `Metadata.to_dict()` is the stable, JSON-able form that goes into signed
custody entries. Flags are named reasons (`FlagReason`) with the value that triggered each;
`evidence.content.flag_text.flag_message` builds the sentence for people in Russian, Kazakh or
English.

The value types and pure helpers live in `evidence.content.metadata_types`, the EXIF, head-scan
and ffprobe readers in `evidence.content.metadata_readers`; the names other modules use are
re-exported here.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    StructureProblem,
    StructureVerdict,
    check_structure,
)
from evidence.content.metadata_readers import EXIF_READ_BUDGET, read_image, read_video
from evidence.content.metadata_types import (
    EDITING_SOFTWARE,
    Extractor,
    Field,
    Flag,
    FlagReason,
    Metadata,
    Source,
    Status,
    distance_km,
    editing_software_in,
    parse_iso6709,
    rfc3339,
)

__all__ = [
    "DEFAULT_CAMERA_UTC_OFFSET",
    "DEFAULT_MAX_DISTANCE_KM",
    "EDITING_SOFTWARE",
    "EXIF_READ_BUDGET",
    "Extractor",
    "Field",
    "Flag",
    "FlagReason",
    "Metadata",
    "ProbeStatus",
    "Source",
    "Status",
    "clean_text",
    "distance_km",
    "editing_software_in",
    "extract_metadata",
    "parse_iso6709",
    "rfc3339",
    "run_ffprobe",
]

DEFAULT_MAX_DISTANCE_KM = 1.0
"""How far from the precinct a photo's GPS may be before it is flagged."""
DEFAULT_CAMERA_UTC_OFFSET = timedelta(hours=5)
"""Offset assumed for an EXIF time that carries none: Kazakhstan is UTC+5 since 1 March 2024."""


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
    head: bytes | None = None,
) -> Metadata:
    """Read what the file at `path` says about itself and flag what a court will ask about.

    `media_type` comes from `detect_media_type` (the type decides the reader). `received_at`
    must be timezone-aware (our clock); it is recorded with source ``dalel-clock``. An EXIF time
    without a UTC offset is read with `camera_utc_offset`, and the field notes that assumption.
    `head`: the file's first bytes when the caller already read them (at least
    `metadata_readers.HEAD_SCAN` of them, or the whole file), read instead of the file's own.
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
        extractor, status, read, problems = read_image(
            p, camera_utc_offset, bool(media_type.brands), head
        )
        flags += problems
    elif media_type.family in (MediaFamily.VIDEO, MediaFamily.AUDIO):
        try:
            extractor, status, read, problems = read_video(p, ffprobe_timeout_s)
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
