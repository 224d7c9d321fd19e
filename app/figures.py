"""What people do with the ``ocr`` stage's readings: review them, confirm figures, compare
photos.

A person's reading is a ``confirm`` entry beside the machine's, never over it. Photos of one
precinct's protocol for one form are one group: figures that agree across photos corroborate
each other; figures that differ are flagged as a possible substitution.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ocr
from app import items
from app import precinct as sheet_precinct
from app.precinct import PRECINCT_FIELD, PrecinctCheck
from app.precinct import precinct_check as precinct_check  # for the dossier and front ends
from app.views import Kept
from base.errors import UsageError
from evidence.content import privacy
from evidence.core import events
from evidence.storage.index import Index
from evidence.storage.store import Store
from pipeline.figures import OcrStage, store_form
from pipeline.run import run_stage_over_store
from pipeline.stages import StageResult, Status

if TYPE_CHECKING:
    from pipeline import jobs

SAME_SHEET_DISTANCE = 12
"""Perceptual-hash bits within which two photos look like one sheet (see ``ocr.phash`` for what
it can and cannot say)."""


@dataclass(frozen=True)
class Confirmation:
    """A person's reading of one figure."""

    value: int
    """The figure as the person read it."""
    by: str
    """Who read it (a name, or a pseudonym when it was an IIN)."""
    time: str
    """When it was recorded (RFC 3339)."""
    seq: int
    """Its custody entry."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: value, by, time."""
        return {"value": self.value, "by": self.by, "time": self.time}


@dataclass(frozen=True)
class Figure:
    """One figure of one photo: the machine's reading and people's confirmations."""

    key: str
    """The figure's key in the form."""
    machine_value: int | None
    """What the machine read (None when it read nothing)."""
    machine_status: str
    """The machine's verdict: accepted, review or unreadable."""
    confidence: float
    """How sure the machine was, 0 to 1."""
    confirmations: tuple[Confirmation, ...] = ()
    """People's readings, oldest first."""
    reason: str = ""
    """The machine's named reason (``ocr.Reason``): why the figure was not accepted
    (``label_not_found``, ``readings_disagree``…), or on what evidence it was; empty for a
    reading recorded without one."""

    @property
    def value(self) -> int | None:
        """The figure to use: the latest confirmation, else an accepted machine value."""
        if self.confirmations:
            return self.confirmations[-1].value
        return self.machine_value if self.machine_status == "accepted" else None

    @property
    def source(self) -> str | None:
        """Where ``value`` comes from: ``confirmed``, ``accepted`` or None (no value)."""
        if self.confirmations:
            return "confirmed"
        return "accepted" if self.machine_status == "accepted" else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: value and source, the machine's reading, the confirmations."""
        return {
            "value": self.value,
            "source": self.source,
            "machine_value": self.machine_value,
            "machine_status": self.machine_status,
            "reason": self.reason,
            "confidence": self.confidence,
            "confirmations": [c.to_dict() for c in self.confirmations],
        }


@dataclass(frozen=True)
class ProtocolFigures:
    """The latest reading of one protocol photo."""

    item: str
    """The photo's SHA-256."""
    precinct: str
    """The precinct it was handed in for."""
    form: str
    """The form it was read with."""
    reading_seq: int
    """The ``ocr`` custody entry of the reading."""
    perceptual_hash: str | None
    """The photo's perceptual hash (to tell photos of one sheet)."""
    figures: dict[str, Figure]
    """Every figure of the form, by key."""
    relations: tuple[tuple[str, bool | None], ...]
    """Each control relation of the form and whether the figures satisfy it (None: unknown)."""
    problem: str | None
    """Why the page could not be read as a whole, if it could not."""
    precinct_check: PrecinctCheck | None = None
    """The precinct number on the sheet against the filed precinct (:mod:`app.precinct`)."""

    @property
    def counts(self) -> bool:
        """Whether its figures count for the precinct it was filed under: not when its sheet
        shows another precinct's number (``PRECINCT_MISMATCH``)."""
        return self.precinct_check is None or self.precinct_check.counts

    @property
    def flags(self) -> tuple[str, ...]:
        """The photo's flags: ``PRECINCT_MISMATCH`` or none."""
        return self.precinct_check.flags if self.precinct_check is not None else ()

    def values(self) -> dict[str, int]:
        """The figures that have a value to use."""
        return {k: f.value for k, f in self.figures.items() if f.value is not None}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with the precinct number on the sheet (``precinct_on_sheet``, null
        when not read) and the photo's ``flags``."""
        check = self.precinct_check
        return {
            "item": self.item,
            "reading_seq": self.reading_seq,
            "problem": self.problem,
            "precinct_on_sheet": check.on_sheet if check is not None else None,
            "precinct_check": check.to_dict() if check is not None else None,
            "flags": list(self.flags),
            "relations": [{"relation": r, "holds": h} for r, h in self.relations],
            "figures": {k: f.to_dict() for k, f in self.figures.items()},
        }


@dataclass(frozen=True)
class Disagreement:
    """Photos of one precinct's protocol that give different values for one figure."""

    field: str
    """The figure's key."""
    values: dict[str, int]
    """The value each photo gives, by the photo's SHA-256."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"field": self.field, "values": self.values}


@dataclass(frozen=True)
class ProtocolGroup:
    """All photos of one precinct's protocol for one form."""

    precinct: str
    """The precinct."""
    form: str
    """The form the photos were read with."""
    photos: tuple[ProtocolFigures, ...]
    """Each photo's latest reading."""
    same_sheet_pairs: tuple[tuple[str, str], ...]
    """Pairs of photos that look like the same sheet (close perceptual hashes)."""
    corroborated: dict[str, int] = field(default_factory=dict)
    """Figures several photos agree on: key -> how many photos."""
    disagreements: tuple[Disagreement, ...] = ()
    """Figures the photos give differently (a possible substitution)."""

    @property
    def substitution_suspected(self) -> bool:
        """True when the photos disagree on any figure."""
        return bool(self.disagreements)

    @property
    def precinct_mismatches(self) -> tuple[PrecinctCheck, ...]:
        """The checks of the photos whose sheet shows another precinct's number."""
        return tuple(
            p.precinct_check for p in self.photos if p.precinct_check and p.precinct_check.mismatch
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "precinct": self.precinct,
            "form": self.form,
            "substitution_suspected": self.substitution_suspected,
            "precinct_mismatch": [c.to_dict() for c in self.precinct_mismatches],
            "disagreements": [d.to_dict() for d in self.disagreements],
            "corroborated": self.corroborated,
            "same_sheet_pairs": [list(p) for p in self.same_sheet_pairs],
            "photos": [p.to_dict() for p in self.photos],
        }


@dataclass
class _Logged:
    """The ``ocr`` and ``confirm`` entries of one store's log, kept up to date entry by entry:
    at 10,000 protocols reading them all from the log again for each call takes seconds."""

    seq: int = -1
    """The last entry of the log seen."""
    line_hash: str | None = None
    """That entry's line hash (a log cut back and written again starts a new view)."""
    ocr: list[dict[str, Any]] = field(default_factory=list)
    confirm: list[dict[str, Any]] = field(default_factory=list)


_LOGGED: Kept[_Logged] = Kept(_Logged, most=8)


def _logged(index: Index) -> _Logged:
    """The ``ocr`` and ``confirm`` entries the index has, in log order."""
    with _LOGGED.lock:
        view = _LOGGED.of(index)
        last = index.last_seq()
        if last > view.seq:
            for e in index.entries_by_events_after((events.OCR, events.CONFIRM), view.seq):
                (view.ocr if e["event"] == events.OCR else view.confirm).append(e)
            Kept.seen(view, index, last)
        return view


def readings(index: Index, precinct: str | None = None) -> list[ProtocolFigures]:
    """The latest reading of each protocol photo (optionally of one precinct)."""
    latest: dict[str, dict[str, Any]] = {}
    confirms: dict[tuple[str, str], list[Confirmation]] = defaultdict(list)
    sheet_confirms: dict[str, list[dict[str, Any]]] = defaultdict(list)
    logged = _logged(index)
    for e in logged.ocr:
        if precinct is None or e.get("precinct") == str(precinct):
            latest[e["subject"]] = e
    for e in logged.confirm:
        if precinct is not None and e["subject"] not in latest:
            continue  # another precinct's photo
        confirms[(e["subject"], e["field"])].append(
            Confirmation(int(e["value"]), (e.get("actor") or {}).get("id", ""), e["time"], e["seq"])
        )
        if e.get("field") == PRECINCT_FIELD and e["subject"] in latest:
            sheet_confirms[e["subject"]].append(e)
    # as sheet_precinct.checks(index, precinct) gives them, from the entries read above
    sheets = {sha: sheet_precinct.check_of(e, sheet_confirms[sha]) for sha, e in latest.items()}
    out = []
    for sha, e in latest.items():
        figs = {
            k: Figure(
                k,
                v.get("value"),
                v.get("status", "unreadable"),
                float(v.get("confidence", 0.0)),
                tuple(confirms.get((sha, k), ())),
                str(v.get("reason") or ""),
            )
            for k, v in e["figures"].items()
        }
        form = ocr.load_form(e["form"])
        values = {k: f.value for k, f in figs.items() if f.value is not None}
        groups = form.groups
        relations = tuple((r.text, r.evaluate(values, groups)) for r in form.relations)
        out.append(
            ProtocolFigures(
                sha,
                e["precinct"],
                e["form"],
                e["seq"],
                e.get("perceptual_hash"),
                figs,
                relations,
                e.get("problem"),
                sheets.get(sha),
            )
        )
    return sorted(out, key=lambda p: (p.precinct, p.reading_seq))


def group(photos: list[ProtocolFigures]) -> list[ProtocolGroup]:
    """Group photos by precinct and form; find corroborations and disagreements among the
    photos that count for the precinct (a sheet showing another precinct's number neither
    corroborates nor contradicts its figures)."""
    by_key: dict[tuple[str, str], list[ProtocolFigures]] = defaultdict(list)
    for p in photos:
        by_key[(p.precinct, p.form)].append(p)
    groups = []
    for (precinct, form), members in sorted(by_key.items()):
        same = tuple(
            (a.item, b.item)
            for a, b in itertools.combinations(members, 2)
            if a.perceptual_hash
            and b.perceptual_hash
            and ocr.hash_distance(a.perceptual_hash, b.perceptual_hash) <= SAME_SHEET_DISTANCE
        )
        corroborated: dict[str, int] = {}
        disagreements = []
        keys = sorted({k for m in members for k in m.figures})
        for k in keys:
            vals: dict[str, int] = {}
            for m in members:
                if not m.counts:
                    continue
                v = m.figures[k].value if k in m.figures else None
                if v is not None:
                    vals[m.item] = v
            distinct = set(vals.values())
            if len(distinct) > 1:
                disagreements.append(Disagreement(k, vals))
            elif len(vals) > 1:
                corroborated[k] = len(vals)
        groups.append(
            ProtocolGroup(precinct, form, tuple(members), same, corroborated, tuple(disagreements))
        )
    return groups


@dataclass(frozen=True)
class FiguresView:
    """A precinct's protocol photos, grouped by form, with their figures and checks."""

    precinct: str
    """The precinct asked for."""
    groups: tuple[ProtocolGroup, ...]
    """One group per form the precinct's photos were read with."""

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list with one object per group."""
        return [g.to_dict() for g in self.groups]


def show(store: Store, precinct: str) -> FiguresView:
    """Each protocol photo of ``precinct``: its figures, people's confirmations, and the
    photo-to-photo checks (corroborations, possible substitutions)."""
    index = store.index
    index.catch_up()
    return FiguresView(str(precinct), tuple(group(readings(index, precinct))))


@dataclass(frozen=True)
class Confirmed:
    """A person's reading of a figure, recorded by :func:`confirm`."""

    item: str
    """The photo's SHA-256."""
    field: str
    """The figure's key."""
    value: int
    """The value recorded."""
    seq: int
    """The ``confirm`` custody entry."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"item": self.item, "field": self.field, "value": self.value, "seq": self.seq}


def confirm(store: Store, item: str, field_key: str, value: int, by: str) -> Confirmed:
    """Record ``by``'s reading of one figure of photo ``item`` (its SHA-256 or a unique prefix)
    beside the machine's, never over it. A usage error when the photo has no reading or the
    form no such figure. ``precinct_on_sheet`` is the precinct number printed on the sheet
    (:func:`app.precinct.confirm`)."""
    if field_key == PRECINCT_FIELD:
        done = sheet_precinct.confirm(store, item, value, by)
        return Confirmed(done.item, PRECINCT_FIELD, done.value, done.seq)
    if value < 0:
        raise UsageError("a figure cannot be negative")
    by = by.strip()
    if not by:
        raise UsageError("say who confirms the figure", fix="pass --by NAME")
    sha = items.resolve(store, item)
    with store.writer() as w:
        history = w.index.history(sha)
        reading = items.latest_reading(history)
        if reading is None:
            raise UsageError(
                f"no reading of item {sha[:16]}…",
                fix=f"read it as a protocol first: dalel ocr --item {sha[:16]}",
            )
        if field_key not in reading["figures"]:
            raise UsageError(
                f"the form {reading['form']} has no figure {field_key!r}",
                fix="keys: " + ", ".join(reading["figures"]),
            )
        appended = w.append(
            {
                "event": events.CONFIRM,
                "subject": sha,
                "precinct": reading["precinct"],
                "actor": {"role": "reviewer", "id": privacy.scrub(store.secret, by)},
                "field": field_key,
                "value": int(value),
                "machine": reading["figures"][field_key],
                "reading_seq": reading["seq"],
            }
        )
    return Confirmed(sha, field_key, int(value), appended.seq)


# --- reading protocols -------------------------------------------------------------------
@dataclass(frozen=True)
class OcrRun:
    """What reading the store's protocol photos did, photo by photo."""

    results: tuple[StageResult, ...]
    """The ``ocr`` stage's result for each protocol photo."""

    @property
    def read(self) -> int:
        """Photos read now."""
        return sum(1 for r in self.results if r.status is Status.DONE)

    @property
    def skipped(self) -> int:
        """Photos not read (already read with this form and engine, or not a photo)."""
        return len(self.results) - self.read

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list with each photo's stage result."""
        return [r.to_dict() for r in self.results]


def read_protocols(
    store: Store,
    *,
    precinct: str | None = None,
    form_id: str | None = None,
    only: Sequence[str] = (),
    progress: Callable[[StageResult], None] | None = None,
) -> OcrRun:
    """Read the figures of every photo handed in as a protocol in the store (or of one
    precinct), each once per form and engine, with ``form_id`` or the store's form; with
    ``only`` (SHA-256s or unique prefixes), the photos named, as protocols whatever kind they
    were handed in as (a person says they are). Raises ``MissingDependency`` (exit code 4)
    when the OCR engine is not installed, a usage error when ``only`` and ``precinct`` are
    both given or a hash names no item."""
    if only and precinct is not None:
        raise UsageError(
            "give the photos to read or a precinct, not both",
            fix="drop --precinct: the photos named by --item are read whatever their precinct",
        )
    shas = [items.resolve(store, prefix) for prefix in only]
    ocr.check_environment()
    if shas:
        results = run_stage_over_store(
            store, OcrStage(form_id, asked=True), only=shas, progress=progress
        )
    else:
        results = run_stage_over_store(
            store, OcrStage(form_id), kind="protocol", precinct=precinct, progress=progress
        )
    return OcrRun(tuple(results))


def queue_protocols(
    store: Store,
    *,
    precinct: str | None = None,
    form_id: str | None = None,
    only: Sequence[str] = (),
    follow: bool | None = None,
) -> jobs.Queued:
    """What :func:`read_protocols` reads, put on the store's job queue instead, for
    ``dalel worker`` on any machine (a store whose index is in PostgreSQL): each photo once
    per form and reader, never twice on the queue. ``follow``: from now on (or no more),
    each protocol photo the store's writers log goes on the queue too."""
    from pipeline import jobs

    if only and precinct is not None:
        raise UsageError(
            "give the photos to read or a precinct, not both",
            fix="drop --precinct: the photos named by --item are read whatever their precinct",
        )
    jobs.conninfo(store)  # (a store on SQLite is refused before anything else)
    ocr.check_environment()
    form = form_id or store_form(store)
    ocr.load_form(form)  # (an unknown form is refused here, not by every job)
    if follow is not None:  # (before queuing: nothing logged meanwhile is missed)
        jobs.set_following(store, follow)
    if only:
        shas = [items.resolve(store, prefix) for prefix in only]
        out = jobs.queue_readings(store, shas, form=form, asked=True)
    else:
        rows = store.index.items_where(kind="protocol", precinct=precinct)
        shas = [r["sha256"] for r in rows if str(r["media_type"]).startswith("image/")]
        out = jobs.queue_readings(store, shas, form=form)
    out.following = follow
    return out


def read_photo(image: bytes, form_id: str) -> ocr.ProtocolReading:
    """Read the tally figures of one protocol photo with form ``form_id`` (no store needed)."""
    ocr.check_environment()
    return ocr.read_protocol(image, ocr.load_form(form_id))
