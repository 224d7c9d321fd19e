"""The precinct printed on a protocol sheet, against the precinct its photo was filed under.

The ``ocr`` stage records the number read in the sheet's header ("Избирательный участок
№ 495", "№ 495 сайлау учаскесі"): ``precinct_on_sheet``, the number, or null when it was not
read for sure (see :mod:`ocr.precinct`). A person may record their own reading of it, beside
the machine's and never over it (``dalel figures confirm --item SHA256 --field
precinct_on_sheet --value N --by NAME``); the latest person's reading wins.

When the number on the sheet (a person's reading, else the machine's) differs from the
precinct the photo was filed under, the photo is flagged ``PRECINCT_MISMATCH``: the sheet is
another precinct's protocol, or the photo was filed under the wrong precinct, or the copy
handed to the observer carries a wrong number. Its figures are then not counted for the
filed precinct (``dalel discrepancies``) until a person reads the filed precinct's number on
the sheet. A number not read is no flag: nothing is guessed either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import items
from base.errors import UsageError
from evidence.content import privacy
from evidence.core import events
from evidence.storage.index import Index
from evidence.storage.store import Store

PRECINCT_FIELD = "precinct_on_sheet"
"""The name of the number on the sheet in ``ocr`` entries and in ``figures confirm``."""
PRECINCT_MISMATCH = "PRECINCT_MISMATCH"
"""The flag of a photo whose sheet shows another precinct's number than it was filed under."""


@dataclass(frozen=True)
class PrecinctCheck:
    """The precinct number on one protocol photo's sheet against the one it was filed under."""

    item: str
    """The photo's SHA-256."""
    filed: str
    """The precinct the photo was filed under."""
    on_sheet: str | None
    """The number on the sheet: a person's reading, else the machine's; None when not read."""
    status: str
    """``confirmed`` (a person read it), ``read`` (the machine read it for sure), ``not_read``
    (looked for and not read for sure: missing, unclear, readers disagree) or ``not_checked``
    (no reading of the photo looked for it)."""
    machine: str | None = None
    """The machine's reading (None when not read)."""
    reason: str | None = None
    """The machine's named reason (``readers_agree``, ``precinct_line_not_found``…); None
    when not checked."""
    by: str | None = None
    """Who read it, when a person did (a name, or a pseudonym when it was an IIN)."""

    @property
    def mismatch(self) -> bool:
        """True when the number on the sheet is known and is not the filed precinct's. A filed
        precinct that is not a plain number ("101-A") is never said to differ."""
        if self.on_sheet is None or not self.filed.isdigit() or not self.on_sheet.isdigit():
            return False
        return int(self.on_sheet) != int(self.filed)

    @property
    def counts(self) -> bool:
        """Whether the photo's figures count for the filed precinct: not when it is flagged."""
        return not self.mismatch

    @property
    def flags(self) -> tuple[str, ...]:
        """``("PRECINCT_MISMATCH",)`` when flagged, else empty."""
        return (PRECINCT_MISMATCH,) if self.mismatch else ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{item, precinct_filed, precinct_on_sheet, status, mismatch, flags,
        machine, reason, by}``."""
        return {
            "item": self.item,
            "precinct_filed": self.filed,
            "precinct_on_sheet": self.on_sheet,
            "status": self.status,
            "mismatch": self.mismatch,
            "flags": list(self.flags),
            "machine": self.machine,
            "reason": self.reason,
            "by": self.by,
        }


def _number(value: Any) -> str | None:
    """A recorded number as text without leading zeros, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return str(int(value))
    return None


def check_of(reading: dict[str, Any], confirmations: list[dict[str, Any]]) -> PrecinctCheck:
    """The check of one photo from its latest ``ocr`` entry and the ``confirm`` entries of its
    sheet's number (oldest first)."""
    filed = str(reading.get("precinct", ""))
    checked = PRECINCT_FIELD in reading
    machine = _number(reading.get(PRECINCT_FIELD))
    detail = reading.get("precinct_reading") or {}
    reason = (str(detail.get("reason") or "") or None) if checked else None
    if confirmations:
        last = confirmations[-1]
        by = (last.get("actor") or {}).get("id")
        return PrecinctCheck(
            reading["subject"], filed, _number(last.get("value")), "confirmed", machine, reason, by
        )
    if not checked:
        return PrecinctCheck(reading["subject"], filed, None, "not_checked")
    status = "read" if machine is not None else "not_read"
    return PrecinctCheck(reading["subject"], filed, machine, status, machine, reason)


def checks(index: Index, precinct: str | None = None) -> dict[str, PrecinctCheck]:
    """The check of every photo with a reading (optionally of one precinct), by SHA-256."""
    latest: dict[str, dict[str, Any]] = {}
    for e in index.entries_by_event(events.OCR):
        if precinct is None or e.get("precinct") == str(precinct):
            latest[e["subject"]] = e
    confirms: dict[str, list[dict[str, Any]]] = {}
    for e in index.entries_by_event(events.CONFIRM):
        if e.get("field") == PRECINCT_FIELD and e["subject"] in latest:
            confirms.setdefault(e["subject"], []).append(e)
    return {sha: check_of(e, confirms.get(sha, [])) for sha, e in latest.items()}


def precinct_check(store: Store, sha256: str) -> dict[str, Any]:
    """The precinct number on photo ``sha256``'s sheet (a hash or a unique prefix) against the
    precinct it was filed under, as JSON-ready data::

        {"item": SHA256, "precinct_filed": "63", "precinct_on_sheet": "495" | None,
         "status": "read" | "confirmed" | "not_read" | "not_checked",
         "mismatch": True, "flags": ["PRECINCT_MISMATCH"],
         "machine": "495" | None, "reason": "readers_agree" | ... | None, "by": NAME | None}

    ``mismatch`` is True only when the number was read (by the machine for sure, or by a
    person) and differs; a photo with no reading is ``not_checked``, with the precinct of its
    first hand-in. A usage error when no item matches."""
    sha = items.resolve(store, sha256)
    index = store.index
    history = index.history(sha)
    reading = items.latest_reading(history)
    if reading is None:
        first = next((e for e in history if e.get("event") == events.INGEST), {})
        return PrecinctCheck(sha, str(first.get("precinct", "")), None, "not_checked").to_dict()
    confirmations = [
        e for e in history if e.get("event") == events.CONFIRM and e.get("field") == PRECINCT_FIELD
    ]
    return check_of(reading, confirmations).to_dict()


@dataclass(frozen=True)
class PrecinctConfirmed:
    """A person's reading of the precinct number on a sheet, recorded by :func:`confirm`."""

    item: str
    """The photo's SHA-256."""
    value: int
    """The number the person read on the sheet."""
    seq: int
    """The ``confirm`` custody entry."""
    check: PrecinctCheck
    """The photo's check after it."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: item, field, value, seq, and the check."""
        return {
            "item": self.item,
            "field": PRECINCT_FIELD,
            "value": self.value,
            "seq": self.seq,
            "precinct_check": self.check.to_dict(),
        }


def confirm(store: Store, item: str, value: int, by: str) -> PrecinctConfirmed:
    """Record ``by``'s reading of the precinct number on photo ``item``'s sheet beside the
    machine's, never over it. A usage error when the photo has no reading."""
    if value <= 0:
        raise UsageError("a precinct number is a whole number from 1")
    by = by.strip()
    if not by:
        raise UsageError("say who read the number", fix="pass --by NAME")
    sha = items.resolve(store, item)
    with store.writer() as w:
        history = w.index.history(sha)
        reading = items.latest_reading(history)
        if reading is None:
            raise UsageError(
                f"no reading of item {sha[:16]}…", fix="run `dalel ocr` first, or check the hash"
            )
        appended = w.append(
            {
                "event": events.CONFIRM,
                "subject": sha,
                "precinct": reading["precinct"],
                "actor": {"role": "reviewer", "id": privacy.scrub(store.secret, by)},
                "field": PRECINCT_FIELD,
                "value": int(value),
                "machine": {
                    "value": reading.get(PRECINCT_FIELD),
                    **(reading.get("precinct_reading") or {}),
                },
                "reading_seq": reading["seq"],
            }
        )
    confirmed = [
        e for e in history if e.get("event") == events.CONFIRM and e.get("field") == PRECINCT_FIELD
    ]
    check = check_of(reading, [*confirmed, appended.entry])
    return PrecinctConfirmed(sha, int(value), appended.seq, check)
