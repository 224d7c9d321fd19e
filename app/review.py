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
import time
from dataclasses import dataclass, field
from typing import Any

import ocr
from app import figures as fg
from app import items
from app.views import Kept
from base.errors import UsageError
from evidence.core import events
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


@dataclass
class _Photo:
    """One protocol photo as review sees it: its latest reading, people's values."""

    item: str
    precinct: str
    form: str
    reading_seq: int
    perceptual_hash: str | None
    figures: dict[str, dict[str, Any]]
    crops: dict[str, str]
    reading_object: str | None
    confirmed: dict[str, int] = field(default_factory=dict)
    entries: dict[str, list[Entry]] = field(default_factory=dict)

    def figure(self, key: str) -> fg.Figure:
        f = self.figures[key]
        confirmations = (
            (fg.Confirmation(self.confirmed[key], "", "", 0),) if key in self.confirmed else ()
        )
        return fg.Figure(
            key,
            f.get("value") if isinstance(f.get("value"), int) else None,
            str(f.get("status", "unreadable")),
            float(f.get("confidence", 0.0)),
            confirmations,
            str(f.get("reason") or ""),
        )

    def state(self, key: str) -> FieldState:
        return FieldState(self.item, key, self.figure(key), self.entries.get(key, []))


@dataclass
class _View:
    """Review's view of one store's log, kept up to date entry by entry: at 10,000 protocols
    reading every entry again for each request would take seconds."""

    seq: int = -1
    line_hash: str | None = None
    photos: dict[str, _Photo] = field(default_factory=dict)
    crops: set[str] = field(default_factory=set)


_VIEWS: Kept[_View] = Kept(_View, most=4)
_WATCHED = (events.OCR, events.CONFIRM, events.REVIEW_ENTRY)


def _view(store: Store) -> _View:
    """The review view of ``store``, with every entry the index has."""
    index = store.index
    index.catch_up()
    with _VIEWS.lock:
        view = _VIEWS.of(index)
        last = index.last_seq()
        if last == view.seq:
            return view
        for e in index.entries_by_events_after(_WATCHED, view.seq):
            _apply(view, e)
        Kept.seen(view, index, last)
        return view


def warm(store: Store) -> None:
    """Read the log into the review view now (as a server starts), not at the first request."""
    _view(store)


def _apply(view: _View, e: dict[str, Any]) -> None:
    sha = e.get("subject", "")
    if e["event"] == events.OCR:
        objects = e.get("objects", [])
        crops = {
            o["field"]: o["sha256"] for o in objects if o.get("role") == "crop" and "field" in o
        }
        view.crops.update(crops.values())
        reading = next((o["sha256"] for o in objects if o.get("role") == "reading"), None)
        old = view.photos.get(sha)
        view.photos[sha] = _Photo(
            sha,
            str(e.get("precinct", "")),
            e["form"],
            e["seq"],
            e.get("perceptual_hash"),
            dict(e.get("figures", {})),
            crops,
            reading,
            old.confirmed if old else {},
            old.entries if old else {},
        )
    elif sha in view.photos:
        photo = view.photos[sha]
        key = e.get("field", "")
        if e["event"] == events.CONFIRM:
            photo.confirmed[key] = int(e["value"])
        else:
            photo.entries.setdefault(key, []).append(
                Entry(int(e["value"]), (e.get("actor") or {}).get("id", ""), e["time"], e["seq"])
            )


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


def _reading_object(store: Store, sha: str | None) -> dict[str, Any]:
    """The full reading (every reader's candidates, the words) kept beside the entry."""
    if sha is None:
        return {}
    try:
        with store.objects.open(sha) as f:
            return dict(json.loads(f.read()))
    except (OSError, ValueError):
        return {}


def crop_shas(store: Store) -> set[str]:
    """Every crop object an ``ocr`` entry made (what the crop route may serve)."""
    return _view(store).crops


def protocol_items(store: Store) -> set[str]:
    """Every photo read as a protocol (what the photo route may serve)."""
    return set(_view(store).photos)


def _todo(photo: _Photo, who: str) -> list[str]:
    """The figures of ``photo`` waiting for reviewer ``who`` (as :class:`FieldState` says,
    without making one per figure: the queue looks at every figure of every photo)."""
    out = []
    for k, f in photo.figures.items():
        if f.get("status") == "accepted" or k in photo.confirmed:
            continue
        entered = photo.entries.get(k)
        if entered and (len({e.value for e in entered}) > 1 or any(e.by == who for e in entered)):
            continue
        out.append(k)
    return out


def next_for(store: Store, who: str, lang: str = "ru") -> dict[str, Any] | None:
    """The next protocol for reviewer ``who`` (a pseudonym): the oldest photo with figures in
    review that they have not entered and that are not in disagreement; None when none."""
    view = _view(store)
    for photo in sorted(view.photos.values(), key=lambda p: p.reading_seq):
        todo = _todo(photo, who)
        if todo:
            return _protocol(store, view, photo, todo, lang)
    return None


def waiting(store: Store, who: str) -> dict[str, int]:
    """How many protocols and figures are left for ``who``, and how many figures they
    entered: in all, and today (UTC, as the log's times are)."""
    view = _view(store)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    protocols = figures_left = done = done_today = 0
    for photo in view.photos.values():
        n = len(_todo(photo, who))
        protocols += bool(n)
        figures_left += n
        mine = [e for es in photo.entries.values() for e in es if e.by == who]
        done += len(mine)
        done_today += sum(1 for e in mine if e.time.startswith(today))
    return {"protocols": protocols, "figures": figures_left, "entered": done, "today": done_today}


def _label(form: ocr.Form, key: str, lang: str) -> str:
    try:
        label = form.label(key)
    except (KeyError, ValueError):
        return key
    return getattr(label, lang, "") or label.ru or key


def _as_figures(photo: _Photo) -> fg.ProtocolFigures:
    figs = {k: photo.figure(k) for k in photo.figures}
    return fg.ProtocolFigures(
        photo.item,
        photo.precinct,
        photo.form,
        photo.reading_seq,
        photo.perceptual_hash,
        figs,
        (),
        None,
    )


def _protocol(
    store: Store, view: _View, photo: _Photo, todo: list[str], lang: str
) -> dict[str, Any]:
    form = ocr.load_form(photo.form)
    reading = _reading_object(store, photo.reading_object).get("fields", {})
    fields = []
    # in the protocol's order, top to bottom as on the sheet (an entry's figures are in
    # the key order of canonical JSON)
    line = {k: i for i, k in enumerate(form.keys)}
    for k in sorted(todo, key=lambda k: (line.get(k, len(line)), k)):
        f = photo.figure(k)
        r = reading.get(k, {})
        fields.append(
            {
                "key": k,
                "label": _label(form, k, lang),
                "candidates": [c for c in r.get("candidates", []) if isinstance(c, int)],
                "words": r.get("words") or "",
                "words_value": r.get("words_value"),
                "machine_value": f.machine_value,
                "machine_status": f.machine_status,
                "reason": f.reason,
                "crop_url": f"/api/crops/{photo.crops[k]}" if k in photo.crops else None,
            }
        )
    known = {
        k: v
        for k in photo.figures
        if k not in set(todo) and (v := photo.figure(k).value) is not None
    }
    same = [
        p for p in view.photos.values() if p.precinct == photo.precinct and p.form == photo.form
    ]
    (group,) = fg.group([_as_figures(p) for p in same])
    others = [p.item for p in same if p.item != photo.item]
    return {
        "item": photo.item,
        "precinct": photo.precinct,
        "form": photo.form,
        "photo_url": f"/api/items/{photo.item}/photo",
        "fields": fields,
        "known": known,
        "labels": {k: _label(form, k, lang) for k in form.keys},
        "relations": relations_for_page(form),
        "substitution": group.substitution_suspected,
        "others": [{"item": o, "photo_url": f"/api/items/{o}/photo"} for o in others],
    }


def _state(store: Store, item: str, key: str) -> FieldState:
    photo = _view(store).photos.get(item)
    if photo is None:
        raise ReviewRefused("NOT_FOUND", f"no protocol reading of {item[:16]}…", 404)
    if key not in photo.figures:
        raise ReviewRefused("NOT_FOUND", f"the form has no figure {key!r}", 404)
    return photo.state(key)


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
    view = _view(store)
    found = []
    for photo in view.photos.values():
        for key in photo.figures:
            s = photo.state(key)
            if s.disagreement:
                found.append((min(e.seq for e in s.entries), photo, key, s))
    out = []
    for _, photo, key, s in sorted(found, key=lambda x: x[0]):
        out.append(
            {
                "item": photo.item,
                "precinct": photo.precinct,
                "field": key,
                "label": _label(ocr.load_form(photo.form), key, lang),
                "machine_value": s.figure.machine_value,
                "entries": [e.to_dict() for e in s.entries],
                "crop_url": f"/api/crops/{photo.crops[key]}" if key in photo.crops else None,
                "photo_url": f"/api/items/{photo.item}/photo",
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
