"""Review by double entry: two reviewers, each blind to the other, confirm a figure.

The reader sends to review every figure it is not sure of. In the workspace a reviewer types
each such figure from the photo; the entry is a ``review-entry`` custody record (who, by
pseudonym; when; what), beside the machine's reading, never over it. A figure becomes
**confirmed** when two different reviewers entered the same number: a ``confirm`` entry then
records it (naming both), so every other part of Dalel (discrepancies, results, dossiers) uses
it. Two different numbers are a **disagreement**: the figure leaves the reviewers' queues and
waits for a coordinator, who sees every entry and records the value (a ``confirm`` entry).

A reviewer is never shown another reviewer's value; the queue gives them the figures still in
review that they have not entered, oldest protocol first.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ocr
from app import figures as fg
from app import items
from base.errors import UsageError
from evidence.core import events
from evidence.storage.index import Index
from evidence.storage.store import Store

MAX_FIGURE = 10_000_000
"""No protocol figure is larger (Kazakhstan has some 12 million voters in all)."""


class ReviewRefused(UsageError):
    """An entry refused, with a named reason (nothing was recorded)."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Entry:
    """One reviewer's entry of one figure."""

    value: int
    by: str
    """The reviewer's pseudonym."""
    time: str
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "by": self.by, "time": self.time, "seq": self.seq}


@dataclass
class FieldState:
    """Where one figure of one photo stands in review."""

    item: str
    key: str
    figure: fg.Figure
    entries: list[Entry] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.figure.source == "confirmed"

    @property
    def in_review(self) -> bool:
        """Sent to people: the machine did not accept it (and nobody confirmed it yet)."""
        return self.figure.machine_status != "accepted" and not self.confirmed

    @property
    def disagreement(self) -> bool:
        return self.in_review and len({e.value for e in self.entries}) > 1

    @property
    def status(self) -> str:
        """``confirmed``, ``disagreement``, ``waiting_second``, or ``open`` (no entry yet)."""
        if self.confirmed:
            return "confirmed"
        if self.disagreement:
            return "disagreement"
        return "waiting_second" if self.entries else "open"

    def entered_by(self, who: str) -> bool:
        return any(e.by == who for e in self.entries)


def _entries(index: Index) -> dict[tuple[str, str], list[Entry]]:
    out: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for e in index.entries_by_event(events.REVIEW_ENTRY):
        out[(e["subject"], e["field"])].append(
            Entry(int(e["value"]), (e.get("actor") or {}).get("id", ""), e["time"], e["seq"])
        )
    return out


@dataclass(frozen=True)
class Snapshot:
    """Every protocol photo's reading and its review state, as the index has them now."""

    photos: list[fg.ProtocolFigures]
    states: dict[tuple[str, str], FieldState]


def snapshot(store: Store) -> Snapshot:
    """The readings and every figure's review state."""
    index = store.index
    index.catch_up()
    photos = fg.readings(index)
    entries = _entries(index)
    states = {
        (p.item, k): FieldState(p.item, k, f, entries.get((p.item, k), []))
        for p in photos
        for k, f in p.figures.items()
    }
    return Snapshot(photos, states)


def _linear(e: Any, groups: dict[str, tuple[str, ...]], sign: int = 1) -> tuple[int, dict]:
    """An expression of a relation as a constant and a coefficient per figure key."""
    from ocr.relations import BinOp, Name, Num, Sum

    if isinstance(e, Num):
        return sign * e.value, {}
    if isinstance(e, Name):
        return 0, {e.key: sign}
    if isinstance(e, Sum):
        return 0, {k: sign for k in groups.get(e.group, ())}
    assert isinstance(e, BinOp)
    c1, t1 = _linear(e.left, groups, sign)
    c2, t2 = _linear(e.right, groups, sign if e.op == "+" else -sign)
    terms = dict(t1)
    for k, v in t2.items():
        terms[k] = terms.get(k, 0) + v
    return c1 + c2, terms


def relations_for_page(form: ocr.Form) -> list[dict[str, Any]]:
    """Each control relation as the page evaluates it live: ``left - right OP 0`` as a
    constant and a coefficient per figure key."""
    groups = dict(form.groups)
    out = []
    for r in form.relations:
        cl, tl = _linear(r.left, groups)
        cr, tr = _linear(r.right, groups, -1)
        terms = dict(tl)
        for k, v in tr.items():
            terms[k] = terms.get(k, 0) + v
        out.append({"text": r.text, "op": r.op, "constant": cl + cr, "terms": terms})
    return out


def _reading_object(store: Store, item: str, seq: int) -> dict[str, Any]:
    """The full reading (every reader's candidates, the words) kept beside the entry."""
    for e in store.index.history(item):
        if e.get("seq") == seq:
            for o in e.get("objects", []):
                if o.get("role") == "reading":
                    try:
                        with store.objects.open(o["sha256"]) as f:
                            return dict(json.loads(f.read()))
                    except (OSError, ValueError):
                        return {}
    return {}


def _crops(store: Store, item: str, seq: int) -> dict[str, str]:
    for e in store.index.history(item):
        if e.get("seq") == seq:
            return {
                o["field"]: o["sha256"]
                for o in e.get("objects", [])
                if o.get("role") == "crop" and "field" in o
            }
    return {}


def crop_shas(store: Store) -> set[str]:
    """Every crop object an ``ocr`` entry made (what the crop route may serve)."""
    index = store.index
    index.catch_up()
    return {
        o["sha256"]
        for e in index.entries_by_event(events.OCR)
        for o in e.get("objects", [])
        if o.get("role") == "crop"
    }


def protocol_items(store: Store) -> set[str]:
    """Every photo read as a protocol (what the photo route may serve)."""
    index = store.index
    index.catch_up()
    return {e["subject"] for e in index.entries_by_event(events.OCR)}


def next_for(store: Store, who: str, lang: str = "ru") -> dict[str, Any] | None:
    """The next protocol for reviewer ``who`` (a pseudonym): the oldest photo with figures in
    review that they have not entered and that are not in disagreement; None when none."""
    snap = snapshot(store)
    for p in sorted(snap.photos, key=lambda p: p.reading_seq):
        todo = [
            k
            for k in p.figures
            if (s := snap.states[(p.item, k)]).in_review
            and not s.disagreement
            and not s.entered_by(who)
        ]
        if todo:
            return _protocol(store, snap, p, todo, lang)
    return None


def waiting(store: Store, who: str) -> dict[str, int]:
    """How many protocols and figures are left for ``who``, and what they entered."""
    snap = snapshot(store)
    protocols = figures_left = 0
    for p in snap.photos:
        n = sum(
            1
            for k in p.figures
            if (s := snap.states[(p.item, k)]).in_review
            and not s.disagreement
            and not s.entered_by(who)
        )
        protocols += bool(n)
        figures_left += n
    done = sum(1 for s in snap.states.values() for e in s.entries if e.by == who)
    return {"protocols": protocols, "figures": figures_left, "entered": done}


def _label(form: ocr.Form, key: str, lang: str) -> str:
    try:
        label = form.label(key)
    except (KeyError, ValueError):
        return key
    return getattr(label, lang, "") or label.ru or key


def _protocol(
    store: Store, snap: Snapshot, p: fg.ProtocolFigures, todo: list[str], lang: str
) -> dict[str, Any]:
    form = ocr.load_form(p.form)
    reading = _reading_object(store, p.item, p.reading_seq).get("fields", {})
    crops = _crops(store, p.item, p.reading_seq)
    fields = []
    for k in todo:
        f = p.figures[k]
        r = reading.get(k, {})
        fields.append(
            {
                "key": k,
                "label": _label(form, k, lang),
                "candidates": [c for c in r.get("candidates", []) if c is not None],
                "words": r.get("words") or "",
                "words_value": r.get("words_value"),
                "machine_value": f.machine_value,
                "machine_status": f.machine_status,
                "reason": f.reason,
                "crop_url": f"/api/crops/{crops[k]}" if k in crops else None,
            }
        )
    known = {k: f.value for k, f in p.figures.items() if f.value is not None and k not in set(todo)}
    group = next(
        g
        for g in fg.group([x for x in snap.photos if x.precinct == p.precinct])
        if g.form == p.form
    )
    others = [o.item for o in group.photos if o.item != p.item]
    return {
        "item": p.item,
        "precinct": p.precinct,
        "form": p.form,
        "photo_url": f"/api/items/{p.item}/photo",
        "fields": fields,
        "known": known,
        "labels": {k: _label(form, k, lang) for k in form.keys},
        "relations": relations_for_page(form),
        "substitution": group.substitution_suspected,
        "others": [{"item": o, "photo_url": f"/api/items/{o}/photo"} for o in others],
    }


def _state(store: Store, item: str, key: str) -> FieldState:
    snap = snapshot(store)
    state = snap.states.get((item, key))
    if state is None:
        if not any(p.item == item for p in snap.photos):
            raise ReviewRefused("NOT_FOUND", f"no protocol reading of {item[:16]}…", 404)
        raise ReviewRefused("NOT_FOUND", f"the form has no figure {key!r}", 404)
    return state


def check_value(value: Any) -> int:
    """A figure as typed: a whole number from 0 to :data:`MAX_FIGURE`."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 9:
            value = int(value.strip())
        else:
            raise ReviewRefused("BAD_VALUE", "a figure is a whole number")
    if not 0 <= value <= MAX_FIGURE:
        raise ReviewRefused("BAD_VALUE", f"a figure is between 0 and {MAX_FIGURE:,}")
    return int(value)


def _latest_reading_seq(store: Store, item: str) -> dict[str, Any]:
    reading = items.latest_reading(store.index.history(item))
    if reading is None:
        raise ReviewRefused("NOT_FOUND", f"no protocol reading of {item[:16]}…", 404)
    return reading


def enter(store: Store, item: str, key: str, value: Any, who: str) -> str:
    """Record reviewer ``who``'s entry; ``waiting_second``, ``confirmed`` or
    ``disagreement``. Refused (nothing recorded) when the figure is not in review, is in
    disagreement, or ``who`` entered it already."""
    value = check_value(value)
    state = _state(store, item, key)
    if state.confirmed or not state.in_review:
        raise ReviewRefused("NOT_IN_REVIEW", "this figure is not waiting for review", 409)
    if state.disagreement:
        raise ReviewRefused("IN_DISAGREEMENT", "this figure waits for a coordinator", 409)
    if state.entered_by(who):
        raise ReviewRefused("ALREADY_ENTERED", "you entered this figure already", 409)
    reading = _latest_reading_seq(store, item)
    agree = [e for e in state.entries if e.by != who and e.value == value]
    with store.writer() as w:
        w.append(
            {
                "event": events.REVIEW_ENTRY,
                "subject": item,
                "precinct": reading["precinct"],
                "actor": {"role": "reviewer", "id": who},
                "field": key,
                "value": value,
                "reading_seq": reading["seq"],
                "machine": reading["figures"].get(key, {}),
            }
        )
        if agree:
            w.append(
                {
                    "event": events.CONFIRM,
                    "subject": item,
                    "precinct": reading["precinct"],
                    "actor": {"role": "reviewers", "id": f"{agree[0].by}+{who}"},
                    "field": key,
                    "value": value,
                    "machine": reading["figures"].get(key, {}),
                    "reading_seq": reading["seq"],
                    "by": "double-entry",
                    "entries": [agree[0].seq],
                }
            )
    if agree:
        return "confirmed"
    return "disagreement" if state.entries else "waiting_second"


def disagreements(store: Store, lang: str = "ru") -> list[dict[str, Any]]:
    """Every figure in disagreement, oldest first, with every entry (for a coordinator)."""
    snap = snapshot(store)
    out = []
    by_item = {p.item: p for p in snap.photos}
    for (item, key), s in sorted(
        snap.states.items(),
        key=lambda kv: min(e.seq for e in kv[1].entries or [Entry(0, "", "", 0)]),
    ):
        if not s.disagreement:
            continue
        p = by_item[item]
        crops = _crops(store, item, p.reading_seq)
        out.append(
            {
                "item": item,
                "precinct": p.precinct,
                "field": key,
                "label": _label(ocr.load_form(p.form), key, lang),
                "machine_value": s.figure.machine_value,
                "entries": [e.to_dict() for e in s.entries],
                "crop_url": f"/api/crops/{crops[key]}" if key in crops else None,
                "photo_url": f"/api/items/{item}/photo",
            }
        )
    return out


def resolve(store: Store, item: str, key: str, value: Any, who: str) -> str:
    """A coordinator's value for a figure in disagreement: it is confirmed."""
    value = check_value(value)
    state = _state(store, item, key)
    if not state.disagreement:
        raise ReviewRefused("NOT_IN_DISAGREEMENT", "this figure is not in disagreement", 409)
    reading = _latest_reading_seq(store, item)
    with store.writer() as w:
        w.append(
            {
                "event": events.CONFIRM,
                "subject": item,
                "precinct": reading["precinct"],
                "actor": {"role": "coordinator", "id": who},
                "field": key,
                "value": value,
                "machine": reading["figures"].get(key, {}),
                "reading_seq": reading["seq"],
                "by": "coordinator",
                "entries": [e.seq for e in state.entries],
            }
        )
    return "confirmed"
