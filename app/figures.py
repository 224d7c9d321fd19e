"""What people do with the ``ocr`` stage's readings: review them, confirm figures, compare
photos.

A person's reading is a ``confirm`` entry beside the machine's, never over it. Photos of one
precinct's protocol for one form are one group: figures that agree across photos corroborate
each other; figures that differ are flagged as a possible substitution.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ocr
from base.errors import UsageError
from evidence.content import privacy
from evidence.storage.index import Index
from evidence.storage.store import Store

SAME_SHEET_DISTANCE = 12  # perceptual-hash bits; see ocr.phash for what it can and cannot say


@dataclass(frozen=True)
class Confirmation:
    """A person's reading of one figure."""

    value: int
    by: str
    time: str
    seq: int


@dataclass(frozen=True)
class Figure:
    """One figure of one photo: the machine's reading and people's confirmations."""

    key: str
    machine_value: int | None
    machine_status: str
    confidence: float
    confirmations: tuple[Confirmation, ...] = ()

    @property
    def value(self) -> int | None:
        """The figure to use: the latest confirmation, else an accepted machine value."""
        if self.confirmations:
            return self.confirmations[-1].value
        return self.machine_value if self.machine_status == "accepted" else None

    @property
    def source(self) -> str | None:
        if self.confirmations:
            return "confirmed"
        return "accepted" if self.machine_status == "accepted" else None


@dataclass(frozen=True)
class ProtocolFigures:
    """The latest reading of one protocol photo."""

    item: str
    precinct: str
    form: str
    reading_seq: int
    perceptual_hash: str | None
    figures: dict[str, Figure]
    relations: tuple[tuple[str, bool | None], ...]
    problem: str | None

    def values(self) -> dict[str, int]:
        return {k: f.value for k, f in self.figures.items() if f.value is not None}


@dataclass(frozen=True)
class Disagreement:
    """Photos of one precinct's protocol that give different values for one figure."""

    field: str
    values: dict[str, int]  # item -> value


@dataclass(frozen=True)
class ProtocolGroup:
    """All photos of one precinct's protocol for one form."""

    precinct: str
    form: str
    photos: tuple[ProtocolFigures, ...]
    same_sheet_pairs: tuple[tuple[str, str], ...]
    corroborated: dict[str, int] = field(default_factory=dict)  # field -> photos agreeing
    disagreements: tuple[Disagreement, ...] = ()

    @property
    def substitution_suspected(self) -> bool:
        return bool(self.disagreements)


def readings(index: Index, precinct: str | None = None) -> list[ProtocolFigures]:
    """The latest reading of each protocol photo (optionally of one precinct)."""
    latest: dict[str, dict[str, Any]] = {}
    confirms: dict[tuple[str, str], list[Confirmation]] = defaultdict(list)
    for e in index.entries_by_event("ocr"):
        if precinct is None or e.get("precinct") == str(precinct):
            latest[e["subject"]] = e
    for e in index.entries_by_event("confirm"):
        confirms[(e["subject"], e["field"])].append(
            Confirmation(int(e["value"]), (e.get("actor") or {}).get("id", ""), e["time"], e["seq"])
        )
    out = []
    for sha, e in latest.items():
        figs = {
            k: Figure(
                k,
                v.get("value"),
                v.get("status", "unreadable"),
                float(v.get("confidence", 0.0)),
                tuple(confirms.get((sha, k), ())),
            )
            for k, v in e["figures"].items()
        }
        form = ocr.load_form(e["form"])
        values = {k: f.value for k, f in figs.items() if f.value is not None}
        relations = tuple((r.text, r.evaluate(values, form.groups)) for r in form.relations)
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
            )
        )
    return sorted(out, key=lambda p: (p.precinct, p.reading_seq))


def group(photos: list[ProtocolFigures]) -> list[ProtocolGroup]:
    """Group photos by precinct and form; find corroborations and disagreements."""
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


def confirm(store: Store, item: str, field_key: str, value: int, by: str) -> int:
    """Record a person's reading of one figure beside the machine's; returns its seq."""
    if value < 0:
        raise UsageError("a figure cannot be negative")
    by = by.strip()
    if not by:
        raise UsageError("say who confirms the figure", fix="pass --by NAME")
    with store.writer() as w:
        history = w.index.history(item)
        reading = next((e for e in reversed(history) if e.get("event") == "ocr"), None)
        if reading is None:
            raise UsageError(
                f"no reading of item {item[:16]}…", fix="run `dalel ocr` first, or check the hash"
            )
        if field_key not in reading["figures"]:
            raise UsageError(
                f"the form {reading['form']} has no figure {field_key!r}",
                fix="keys: " + ", ".join(reading["figures"]),
            )
        appended = w.append(
            {
                "event": "confirm",
                "subject": item,
                "precinct": reading["precinct"],
                "actor": {"role": "reviewer", "id": privacy.scrub(store.secret, by)},
                "field": field_key,
                "value": int(value),
                "machine": reading["figures"][field_key],
                "reading_seq": reading["seq"],
            }
        )
    return appended.seq
