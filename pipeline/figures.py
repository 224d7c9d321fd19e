"""The `ocr` stage: read the figures of each protocol photo into a derivative record.

A reading is a derivative record bound to the photo's hash: an ``ocr`` custody entry with
the form, the engine versions, every figure with its status, the relations, and the
objects it produced (the full reading as JSON, and a crop of each figure's region), each
naming its parent and the operation. What people do with readings (review, confirm,
compare photos) is in ``app.figures``.

Which photos are read: those handed in as ``protocol``; with ``detect`` (what ``run`` does),
also those handed in without a kind (``other``) whose content reads as a protocol of the
store's form; with ``asked``, every photo given (a person says it is a protocol). A photo
handed in without a kind that does not read as a protocol gets no reading at all: a
non-protocol never becomes one, and its result says why it was not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ocr
from evidence.core import custody
from evidence.storage.store import Store
from pipeline.stages import Context, Item, StageResult, Status

DEFAULT_FORM = "kz-mazhilis-party-list-2023"

UNDECLARED = "other"
"""The kind a file has when the submitter did not say what it is (``--kind`` not given)."""

DETECT_LABELS = 0.5
"""Share of the form's labels a photo handed in without a kind must show, on a page the
reader takes as the form (no ``problem``), to be read as a protocol. The reader itself asks
for 0.3 of a photo declared a protocol; a photo nobody called one must show more."""

OCR_UNAVAILABLE = "ocr_unavailable"
"""``problem`` of a photo not looked at because the OCR engine is missing."""


JSON_SAFE = 2**53 - 1
"""The largest whole number a JSON number carries exactly (RFC 8785 refuses larger)."""


def _exact(value: Any) -> Any:
    """``value`` with every whole number beyond :data:`JSON_SAFE` written as a string: a
    reader that took a row of ink for an 18-digit figure must not stop the reading from
    being recorded (canonical JSON refuses such numbers)."""
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_exact(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > JSON_SAFE:
        return str(value)
    return value


def store_form(store: Store) -> str:
    """The form the store reads protocols with (``[ocr] form`` in config.toml)."""
    return str(store.config.raw.get("ocr", {}).get("form", DEFAULT_FORM))


def labels_found(reading: ocr.ProtocolReading) -> int:
    """How many of the form's labels the reader found on the page."""
    return sum(1 for f in reading.fields if f.reason is not ocr.Reason.LABEL_NOT_FOUND)


def reads_as_protocol(reading: ocr.ProtocolReading) -> bool:
    """Whether a photo handed in without a kind is a protocol of the reading's form: the
    reader took the page as that form (no ``problem``: enough labels, no sign of another
    form) and found at least :data:`DETECT_LABELS` of its labels."""
    if reading.problem is not None or not reading.fields:
        return False
    return labels_found(reading) >= DETECT_LABELS * len(reading.fields)


def why_not_protocol(reading: ocr.ProtocolReading) -> str:
    """The named reason a photo handed in without a kind was not read as a protocol."""
    if reading.problem is not None:
        return reading.problem.value
    return ocr.Reason.LABEL_NOT_FOUND.value


@dataclass(frozen=True)
class Prepared:
    """A protocol photo read, and the ``ocr`` entry that records it, not yet logged."""

    item: Item
    entry: dict[str, Any]
    """The custody entry to log (its objects already stored)."""
    detail: str
    data: dict[str, Any]

    def recorded(self, seq: int) -> StageResult:
        """The stage's result once the entry is logged as line ``seq``."""
        return StageResult(
            OcrStage.name, self.item.sha256, Status.DONE, self.detail, self.item, (seq,), self.data
        )


class OcrStage:
    """Read the figures of every protocol photo; idempotent per form and engine."""

    name = "ocr"

    def __init__(
        self, form_id: str | None = None, *, detect: bool = False, asked: bool = False
    ) -> None:
        self.form_id = form_id
        self.detect = detect
        """Also read photos handed in without a kind that read as a protocol (``run``)."""
        self.asked = asked
        """Read every photo given as a protocol, whatever its kind (``ocr --item``)."""

    def run(self, item: Item, ctx: Context) -> StageResult:
        prepared = self.prepare(item, ctx.store)
        if isinstance(prepared, StageResult):
            return prepared
        return prepared.recorded(ctx.writer.append(prepared.entry).seq)

    def prepare(
        self, item: Item, store: Store, *, look_in_log: bool = True
    ) -> Prepared | StageResult:
        """Read ``item`` and make the ``ocr`` entry to log, without logging it: what a
        worker on another machine does (:mod:`pipeline.jobs`), the sequencer logging the
        entry later. A :class:`StageResult` when there is nothing to log (already read with
        this form and engine, not a protocol photo, not looked at). ``look_in_log``: whether
        to look for a reading already logged first (a worker without the log leaves it to
        the sequencer, which never logs a second one)."""
        if not item.media_type.startswith("image/"):
            return StageResult(self.name, item.sha256, Status.SKIPPED, "not a protocol photo", item)
        declared = item.kind == "protocol" or self.asked
        if not declared and not (self.detect and item.kind == UNDECLARED):
            return StageResult(self.name, item.sha256, Status.SKIPPED, "not a protocol photo", item)
        form = ocr.load_form(self.form_id or store_form(store))
        try:
            engine = ocr.engine_versions()
        except ocr.MissingDependency as missing:
            if declared:
                raise
            return self._not_read(item, OCR_UNAVAILABLE, f"not looked at: {missing.message}")
        for e in store.index.history(item.sha256) if look_in_log else ():
            if e.get("event") == "ocr" and e.get("form") == form.id and e.get("engine") == engine:
                return StageResult(
                    self.name,
                    item.sha256,
                    Status.SKIPPED,
                    "already read with this form and engine",
                    item,
                )
        with store.objects.open(item.sha256) as f:
            image = f.read()
        try:
            reading = ocr.read_protocol(image, form)
        except ocr.MissingDependency as missing:
            if declared:
                raise
            return self._not_read(item, OCR_UNAVAILABLE, f"not looked at: {missing.message}")
        if not declared and not reads_as_protocol(reading):
            why = why_not_protocol(reading)
            if reading.problem is None:  # the form's page, but too few of its labels
                why += f", {labels_found(reading)} of the {len(reading.fields)} labels of {form.id}"
            return self._not_read(
                item,
                why_not_protocol(reading),
                f"handed in as {item.kind!r}; does not read as a protocol ({why})",
            )
        objects: list[dict[str, Any]] = []
        full = _exact(reading.to_dict(reasons=True))
        stored = store.objects.put_bytes(custody.canonical(full))
        objects.append(
            {
                "sha256": stored.sha256,
                "role": "reading",
                "parent": item.sha256,
                "operation": "ocr-read",
            }
        )
        for key, png in sorted(reading.crops.items()):
            crop = store.objects.put_bytes(png)
            objects.append(
                {
                    "sha256": crop.sha256,
                    "role": "crop",
                    "field": key,
                    "parent": item.sha256,
                    "operation": "ocr-crop",
                }
            )
        if reading.precinct.crop is not None:  # the precinct number in the header
            crop = store.objects.put_bytes(reading.precinct.crop)
            objects.append(
                {
                    "sha256": crop.sha256,
                    "role": "crop",
                    "field": "precinct_on_sheet",
                    "parent": item.sha256,
                    "operation": "ocr-crop",
                }
            )
        figures = {
            f.key: {
                "value": _exact(f.value),
                "status": f.status.value,
                "confidence": round(f.confidence, 4),
                "reason": f.reason.value,
            }
            for f in reading.fields
        }
        entry = {
            "event": "ocr",
            "subject": item.sha256,
            "precinct": item.precinct,
            "kind": "protocol",
            "form": form.id,
            "engine": engine,
            "perceptual_hash": ocr.perceptual_hash(image),
            "figures": figures,
            # the precinct number printed on the sheet (null: not read for sure), and how
            "precinct_on_sheet": reading.precinct.value,
            "precinct_reading": {
                "status": "read" if reading.precinct.read else "not_read",
                "reason": reading.precinct.reason.value,
                "confidence": round(reading.precinct.confidence, 4),
                "candidates": list(reading.precinct.candidates),
            },
            "relations": [{"relation": r.relation, "holds": r.holds} for r in reading.relations],
            "problem": reading.problem.value if reading.problem else None,
            "objects": objects,
        }
        data: dict[str, Any] = {}
        if item.kind != "protocol":
            # why a photo not handed in as a protocol was read as one
            entry["protocol_by"] = data["protocol_by"] = "request" if self.asked else "content"
        accepted = sum(1 for f in reading.fields if f.status is ocr.Status.ACCEPTED)
        return Prepared(
            item,
            entry,
            f"{accepted}/{len(reading.fields)} figures accepted",
            {"accepted": accepted, "fields": len(reading.fields), **data},
        )

    def _not_read(self, item: Item, why: str, detail: str) -> StageResult:
        """A photo handed in without a kind that was not read as a protocol, and why."""
        return StageResult(
            self.name,
            item.sha256,
            Status.SKIPPED,
            detail,
            item,
            data={"not_a_protocol": why},
        )
