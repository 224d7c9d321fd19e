"""Result types of a protocol reading, and their JSON and table forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """The decision on one figure."""

    ACCEPTED = "accepted"
    REVIEW = "review"
    UNREADABLE = "unreadable"


class Reason(StrEnum):
    """Why a figure is not accepted (or, for accepted ones, on what evidence)."""

    DIGITS_AND_WORDS_AGREE = "digits_and_words_agree"
    READINGS_AGREE = "independent_readings_agree"
    GLYPHS_AND_FIGURE_AGREE = "glyph_and_whole_figure_readers_agree"
    TEXT_ENGINES_AGREE = "ppocr_and_tesseract_agree"
    RELATION_CONFIRMS = "two_readings_and_a_control_equality_agree"
    WORDS_AND_RELATION_AGREE = "words_and_a_control_equality_agree"
    RELATION_FAILS = "a_relation_it_is_in_does_not_hold"
    UNSUPPORTED = "two_witnesses_and_no_relation_to_check_them"
    DIGITS_WORDS_DISAGREE = "digits_and_words_disagree"
    READINGS_DISAGREE = "readings_disagree"
    SINGLE_READING = "single_reading_only"
    LOW_CONFIDENCE = "low_confidence"
    RANKED_BY_RELATION = "candidate_ranked_by_relation"
    FIGURE_SHARED = "figure_claimed_by_two_labels"
    FIGURE_NOT_ISOLATED = "figure_may_be_cut_short"
    FIGURE_NOT_LEVEL = "figure_below_its_label"
    ONE_TWO_STROKES_THICK = "a_1_in_it_as_thick_as_two_strokes"
    DIGIT_MISREAD_ON_PAGE = "a_digit_of_it_misread_on_this_page"
    HAND_MISREAD_ON_PAGE = "other_digits_of_this_hand_misread_on_this_page"
    LABEL_NOT_FOUND = "label_not_found"
    LABEL_PLACED_BY_ORDER = "label_placed_by_order_only"
    LABEL_CROWDED = "label_too_close_to_the_one_before"
    FIGURE_NOT_FOUND = "figure_not_found"
    NOT_AN_IMAGE = "not_an_image"
    TOO_SMALL = "image_too_small"
    TOO_LARGE = "image_too_large"
    BLANK = "blank_page"
    NOT_A_PROTOCOL = "not_a_protocol"
    FORM_MISMATCH = "form_mismatch"
    OCR_FAILED = "ocr_failed"


@dataclass(frozen=True)
class FieldReading:
    """The reading of one figure."""

    key: str
    """Figure key of the form."""
    value: int | None
    """The figure: accepted value, best candidate for review, None if unreadable."""
    status: Status
    """accepted / review / unreadable."""
    confidence: float
    """0..1."""
    digits: str
    """The figure as read in digits ('' if none)."""
    words: str | None
    """The figure in words as read, if the protocol has it and it was found."""
    words_value: int | None
    """``words`` as an integer, if it is a valid number phrase."""
    candidates: tuple[int, ...]
    """Values the image supports, best first (empty if none)."""
    box: tuple[int, int, int, int]
    """x, y, w, h of the figure's region in the original image ((0,0,0,0) if none)."""
    reason: Reason
    """Evidence for acceptance or the reason it was not accepted."""
    crop: bytes | None = field(default=None, repr=False, compare=False)
    """PNG of the region the figure was read from (flattened sheet), if any."""
    readers: tuple[tuple[str, str | None, float], ...] = ()
    """What each independent reader saw: (reader, digits or None, confidence 0..1); readers
    are ``glyphs_a`` and ``glyphs_b`` (the two digit models), ``sequence`` (the whole-figure
    network), ``tesseract``, ``ppocr`` (PP-OCR's recogniser) and ``words``."""

    def to_dict(self) -> dict[str, object]:
        """The issue's per-field JSON object."""
        return {
            "value": self.value,
            "status": self.status.value,
            "confidence": round(self.confidence, 4),
            "digits": self.digits,
            "words": self.words,
            "words_value": self.words_value,
            "candidates": list(self.candidates),
            "box": list(self.box),
        }


@dataclass(frozen=True)
class RelationCheck:
    """One control relation evaluated on the accepted-or-reviewed values."""

    relation: str
    holds: bool | None
    """True/False, None when a figure it needs has no value."""


class PrecinctReason(StrEnum):
    """Why the precinct number was read, or why not."""

    READ = "readers_agree"
    NO_LINE = "precinct_line_not_found"
    NOT_ISOLATED = "number_may_be_cut_short"
    DISAGREE = "readers_disagree"
    LOW_CONFIDENCE = "low_confidence"
    CONFLICT = "sheet_gives_two_numbers"
    PAGE_NOT_READ = "page_not_read"


@dataclass(frozen=True)
class PrecinctReading:
    """The precinct number printed on a protocol."""

    value: int | None
    """The number, when read for sure; None when not read (never a guess)."""
    reason: PrecinctReason
    """``readers_agree`` when read, else why not."""
    confidence: float
    """0..1 (0 when not read)."""
    candidates: tuple[int, ...] = ()
    """Numbers the readers saw, most likely first (for a person to check; empty if none)."""
    line: str = ""
    """The text line the number was found on, as Tesseract read it ('' if none)."""
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    """x, y, w, h of the number in the original image ((0,0,0,0) if none)."""
    crop: bytes | None = None
    """PNG of the number's region (flattened sheet), if it was found."""
    readers: tuple[tuple[str, str | None, float], ...] = ()
    """What each reader saw: (reader, digits or None, confidence 0..1); ``page`` is Tesseract's
    reading of the whole page."""

    @property
    def read(self) -> bool:
        """True when the number was read for sure."""
        return self.value is not None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (without the crop)."""
        return {
            "value": self.value,
            "status": "read" if self.read else "not_read",
            "reason": self.reason.value,
            "confidence": round(self.confidence, 4),
            "candidates": list(self.candidates),
            "line": self.line,
            "box": list(self.box),
            "readers": {name: [digits, round(c, 4)] for name, digits, c in self.readers},
        }


#: The precinct reading of a page that could not be read at all.
NOT_READ_PAGE = PrecinctReading(None, PrecinctReason.PAGE_NOT_READ, 0.0)


@dataclass(frozen=True)
class ProtocolReading:
    """Everything read from one protocol image."""

    form: str
    image_sha256: str
    fields: tuple[FieldReading, ...]
    """One per figure key of the form, in the form's order."""
    relations: tuple[RelationCheck, ...]
    seconds: float
    """Wall time of the reading."""
    problem: Reason | None = None
    """Set when the image as a whole could not be read (every field unreadable)."""
    engine: dict[str, object] = field(default_factory=dict, compare=False)
    """Engine versions (see :func:`ocr.engine.engine_versions`)."""
    precinct: PrecinctReading = NOT_READ_PAGE
    """The precinct number printed on the sheet (see :mod:`ocr.precinct`)."""

    def field(self, key: str) -> FieldReading:
        """The reading of ``key``."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    @property
    def crops(self) -> dict[str, bytes]:
        """Figure key -> PNG crop of the region it was read from."""
        return {f.key: f.crop for f in self.fields if f.crop is not None}

    def to_dict(self, *, reasons: bool = False) -> dict[str, object]:
        """Exactly the issue's JSON; with ``reasons=True`` (the record kept in the store) each
        field also gets ``reason`` and ``readers``, and the reading ``precinct_on_sheet`` (the
        precinct number printed on the sheet, null when not read for sure) and
        ``precinct_reading`` (how it was read, or why not)."""
        fields: dict[str, object] = {}
        for f in self.fields:
            d = f.to_dict()
            if reasons:
                d["reason"] = f.reason.value
                d["readers"] = {name: [digits, round(c, 4)] for name, digits, c in f.readers}
            fields[f.key] = d
        return {
            "form": self.form,
            "image_sha256": self.image_sha256,
            "fields": fields,
            "relations": [{"relation": r.relation, "holds": r.holds} for r in self.relations],
            "seconds": round(self.seconds, 3),
        } | (
            {"precinct_on_sheet": self.precinct.value, "precinct_reading": self.precinct.to_dict()}
            if reasons
            else {}
        )


def format_table(reading: ProtocolReading) -> str:
    """Plain-text table of a reading, for ``dalel ocr-image`` without ``--json``."""
    head = ("field", "value", "status", "conf", "digits", "words", "reason")
    rows = [head]
    for f in reading.fields:
        rows.append(
            (
                f.key,
                "" if f.value is None else str(f.value),
                f.status.value,
                f"{f.confidence:.2f}",
                f.digits,
                "" if f.words_value is None else str(f.words_value),
                f.reason.value,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [f"form {reading.form}  image {reading.image_sha256[:16]}  {reading.seconds:.2f} s"]
    if reading.problem is not None:
        lines.append(f"image not readable: {reading.problem.value}")
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    counts = {s: sum(f.status == s for f in reading.fields) for s in Status}
    lines.append(
        f"accepted {counts[Status.ACCEPTED]}, review {counts[Status.REVIEW]}, "
        f"unreadable {counts[Status.UNREADABLE]}"
    )
    for rel in reading.relations:
        mark = {True: "holds", False: "DOES NOT HOLD", None: "not checked"}[rel.holds]
        lines.append(f"relation {rel.relation}: {mark}")
    p = reading.precinct
    if p.read:
        lines.append(f"precinct on the sheet: {p.value} ({p.reason.value})")
    else:
        lines.append(f"precinct on the sheet: not read ({p.reason.value})")
    return "\n".join(lines)
