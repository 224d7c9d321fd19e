"""What a dossier shows, as frozen dataclasses the store fills in.

Nothing here reads files or the store: the caller builds a :class:`Dossier` from
whatever it has (the store, a test, a demo) and hands it to
:func:`app.dossier.build.build_dossier`. Texts shown to people come from the
templates' translations; the values here are data (names, figures, hashes, times).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from app.deadlines import CASE_KINDS, Deadline

Language = Literal["ru", "kk", "en"]
Edition = Literal["court", "public"]
Addressee = Literal["commission", "court"]

__all__ = [
    "CASE_KINDS",
    "Addressee",
    "Case",
    "Complainant",
    "Confirmation",
    "CustodyRow",
    "Deadline",
    "Derivative",
    "Dossier",
    "Edition",
    "Exhibit",
    "FigureReading",
    "FigureRow",
    "GeoPoint",
    "Language",
    "ProtocolFigures",
    "Respondent",
    "Still",
    "TimeClaim",
    "TrustedTime",
]


@dataclass(frozen=True)
class Complainant:
    """The person filing; personal data, shown only in the court edition."""

    name: str
    """Full name."""
    iin: str
    """Individual identification number (12 digits)."""
    address: str
    """Postal address."""
    phone: str
    """Phone number."""


@dataclass(frozen=True)
class Respondent:
    """Whose decision or action is complained about, e.g. a precinct commission."""

    name: str
    """Full name of the body, e.g. "Участковая избирательная комиссия № 123"."""
    address: str = ""
    """Its address, if known."""


@dataclass(frozen=True)
class Case:
    """A complaint case."""

    id: str
    """Case id as the store knows it."""
    kind: str
    """One of :data:`app.deadlines.CASE_KINDS`."""
    precinct: str
    """Precinct (polling station) number."""
    addressee: Addressee
    """``commission`` (higher commission) or ``court``."""
    addressee_name: str
    """Name of the addressed body, e.g. "Территориальная избирательная комиссия ..."."""
    title: str
    """Subject line of the complaint."""
    event_date: date
    """Date of the decision or action complained about (Asia/Almaty)."""
    respondent: Respondent
    """The body complained about."""
    complainant: Complainant | None = None
    """The complainant; left out of the public edition whatever is given here."""
    facts: tuple[str, ...] = ()
    """Paragraphs of facts; when empty, the jurisdiction file's paragraphs for the kind."""
    legal_grounds: tuple[str, ...] = ()
    """Paragraphs of legal grounds; when empty, the jurisdiction file's."""
    relief: tuple[str, ...] = ()
    """Items of requested relief; when empty, the jurisdiction file's."""
    event_date_given: bool = True
    """False while ``event_date`` is only the day the case was opened (a draft shows so)."""

    def __post_init__(self) -> None:
        if self.kind not in CASE_KINDS:
            raise ValueError(f"unknown case kind {self.kind!r}")
        if self.addressee not in ("commission", "court"):
            raise ValueError(f"unknown addressee {self.addressee!r}")


@dataclass(frozen=True)
class TimeClaim:
    """A time with where it comes from (``exif``, ``device``, ``server``, ``observer`` ...)."""

    value: datetime
    """The time, timezone-aware."""
    source: str
    """Key of the source; the dossier shows it translated (``source.<key>``)."""


@dataclass(frozen=True)
class TrustedTime:
    """An RFC 3161 timestamp over the exhibit's hash."""

    time: datetime
    """genTime of the token."""
    tsa: str
    """Name of the time-stamping authority (its certificate subject)."""
    token: bytes | None = None
    """The DER TimeStampResp (or token); embedded so that ``openssl ts -verify`` can check it."""
    tsa_cert_pem: bytes | None = None
    """The TSA's certificate (PEM), embedded beside the token when given."""


@dataclass(frozen=True)
class GeoPoint:
    """GPS position from the file's metadata."""

    lat: float
    """Latitude in degrees."""
    lon: float
    """Longitude in degrees."""
    source: str = "exif"
    """Key of the source."""


@dataclass(frozen=True)
class CustodyRow:
    """One custody-log entry about the exhibit."""

    seq: int
    """Leaf index in the custody log."""
    time: datetime
    """When the entry was made."""
    actor: str
    """Who made it (key id or name)."""
    action: str
    """Action key (``ingest``, ``timestamp``, ``ocr`` ...); shown translated when known."""
    entry_hash: str
    """SHA-256 of the entry (hex)."""
    detail: str = ""
    """Free detail."""


@dataclass(frozen=True)
class Confirmation:
    """A person confirming a figure or a fact."""

    person: str
    """Who confirmed (name or observer id)."""
    time: datetime
    """When."""
    statement: str
    """What was confirmed (e.g. "line 3 = 1520")."""


@dataclass(frozen=True)
class FigureReading:
    """A figure read from a protocol photo, with the crop it was read from."""

    field: str
    """Field key of the protocol form (e.g. ``line_03``)."""
    label: str
    """Label of the field as printed on the form."""
    value: int | None
    """The value read; None when unreadable."""
    crop_png: bytes | None = None
    """PNG of the part of the photo the value was read from."""
    confidence: float | None = None
    """Reader's confidence in 0..1."""
    confirmed_by: tuple[Confirmation, ...] = ()
    """People who confirmed the value."""


@dataclass(frozen=True)
class Still:
    """A still image from a video exhibit at a timecode."""

    timecode: float
    """Seconds from the start of the video."""
    image: bytes
    """The still (PNG or JPEG bytes)."""


@dataclass(frozen=True)
class Exhibit:
    """One file of evidence."""

    sha256: str
    """SHA-256 (hex) of the original bytes."""
    media_type: str
    """MIME type of the original (``image/jpeg``, ``video/mp4`` ...)."""
    original_name: str
    """File name as received."""
    content: bytes | None = None
    """The original bytes: embedded in the court edition, source of stills and redaction."""
    size: int | None = None
    """Size in bytes of the original (taken from ``content`` when given)."""
    image: bytes | None = None
    """Image to show for a photo (defaults to ``content`` for image types)."""
    stills: tuple[Still, ...] = ()
    """Stills to show for a video; made from ``content`` at ``still_timecodes`` if empty."""
    still_timecodes: tuple[float, ...] = ()
    """Timecodes (seconds) at which to take stills when ``stills`` is empty."""
    captured: TimeClaim | None = None
    """Capture time and its source."""
    received: TimeClaim | None = None
    """Receipt time and its source."""
    camera: str = ""
    """Camera make and model."""
    gps: GeoPoint | None = None
    """Position, if the file had one."""
    trusted_time: TrustedTime | None = None
    """RFC 3161 time of the hash."""
    custody: tuple[CustodyRow, ...] = ()
    """Custody history, oldest first."""
    figures: tuple[FigureReading, ...] = ()
    """Figures read from this exhibit."""
    confirmations: tuple[Confirmation, ...] = ()
    """People's confirmations about the exhibit as a whole."""
    description: str = ""
    kind: str = "other"
    """What the observer said it is (protocol, violation, act, video, other)."""
    precinct_filed: str = ""
    """The precinct the photo was filed under."""
    precinct_on_sheet: str | None = None
    """The precinct number read on a protocol's sheet (a person's reading, else the
    machine's); None when not read for sure or not looked for."""
    precinct_checked: bool = False
    """Whether the sheet's number was looked for (a protocol reading)."""
    precinct_read_by: str | None = None
    """Who read the sheet's number, when a person did."""

    @property
    def precinct_mismatch(self) -> bool:
        """The sheet shows another precinct's number than the photo was filed under."""
        sheet, filed = self.precinct_on_sheet, self.precinct_filed
        return bool(sheet and filed.isdigit() and sheet.isdigit() and int(sheet) != int(filed))

    """Short description given by the observer."""

    @property
    def is_video(self) -> bool:
        """True for video media types."""
        return self.media_type.startswith("video/")

    @property
    def is_image(self) -> bool:
        """True for image media types."""
        return self.media_type.startswith("image/")


@dataclass(frozen=True)
class FigureRow:
    """One line of a protocol's figures table."""

    field: str
    """Field key."""
    label: str
    """Field label as printed on the form."""
    protocol: int | None
    """Figure on the protocol (confirmed by a person, else the accepted reading)."""
    official: int | None
    """Official figure."""

    @property
    def difference(self) -> int | None:
        """protocol - official, or None when either is missing."""
        if self.protocol is None or self.official is None:
            return None
        return self.protocol - self.official


@dataclass(frozen=True)
class ProtocolFigures:
    """The figures table of one protocol."""

    protocol_sha256: str
    """Hash of the protocol photo the figures come from."""
    precinct: str
    """Precinct number."""
    rows: tuple[FigureRow, ...]
    """Lines of the table."""
    failing_relations: tuple[str, ...] = ()
    """Control relations of the protocol that fail, written as formulas."""


@dataclass(frozen=True)
class Dossier:
    """Everything one dossier shows."""

    case: Case
    """The case."""
    deadline: Deadline
    """Its filing deadline as of the build day."""
    exhibits: tuple[Exhibit, ...]
    """Exhibits, in annex order."""
    org_name: str
    """Organization filing / signing."""
    language: Language = "ru"
    """Language of the dossier."""
    edition: Edition = "court"
    """``court`` (originals embedded, complainant shown) or ``public`` (redacted)."""
    figures: tuple[ProtocolFigures, ...] = ()
    """Figures tables, one per protocol."""
    generated_at: datetime | None = None
    """Build time shown on the dossier (timezone-aware); now when None."""
    draft: bool = False
    """A draft to read, not to file: DRAFT across every page."""


@dataclass(frozen=True)
class Derivative:
    """A file made from an exhibit (redacted copy, video still) for the store to record."""

    data: bytes
    """The derived bytes."""
    parent_sha256: str
    """Hash of the original it was made from."""
    operation: str
    """What was done (``blur-faces``, ``video-still``)."""
    media_type: str
    """MIME type of ``data``."""
    params: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """Parameters of the operation (e.g. ``("timecode", "3.000")``, ``("faces", "2")``)."""

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of ``data``."""
        return hashlib.sha256(self.data).hexdigest()
