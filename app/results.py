"""The alternative results: protocol figures against the official ones, precinct by precinct
and region by region, with turnout and coverage.

A precinct's protocol figure is the one :func:`app.official.discrepancies` chooses (confirmed
by people, else accepted by the reader; none while its photos disagree). Regions come from the
precinct registry (:mod:`app.registry`); a precinct it does not list is in no region
(``region: null``). Coverage is the precincts with a protocol photo among all precincts: the
registry's when there is one, else those of the official results and the photos.

The JSON and CSV export has one row per precinct: ``precinct``, ``region``, ``district``,
``photos``, then for each figure key of the form ``KEY_protocol``, ``KEY_official`` and
``KEY_difference`` (protocol minus official), then ``turnout_protocol`` and
``turnout_official`` (ballots issued / voters on the list). It holds no personal data: no
observer, no reviewer, no photo hash.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import ocr
from app import official, registry
from app.views import Kept
from evidence.core import events
from evidence.storage.store import Store
from pipeline.figures import store_form

TURNOUT = ("ballots_issued", "voters_on_list")
"""Turnout: voters who received ballots over voters on the lists (both keys of every form)."""


@dataclass
class PrecinctResult:
    """One precinct: its figures from the protocol and from the official results."""

    precinct: str
    region: str | None
    district: str | None
    photos: int
    protocol: dict[str, int | None] = field(default_factory=dict)
    official: dict[str, int | None] = field(default_factory=dict)
    photos_disagree: tuple[str, ...] = ()

    def difference(self, key: str) -> int | None:
        p, o = self.protocol.get(key), self.official.get(key)
        return None if p is None or o is None else p - o

    @property
    def differs(self) -> bool:
        """A figure read for sure differs from the official one."""
        return any(self.difference(k) not in (None, 0) for k in self.protocol)

    def turnout(self, side: dict[str, int | None]) -> float | None:
        issued, on_list = side.get(TURNOUT[0]), side.get(TURNOUT[1])
        if issued is None or not on_list:
            return None
        return issued / on_list


@dataclass(frozen=True)
class RegionSummary:
    """One region: precincts, how many have a photo, how many differ."""

    region: str | None
    precincts: int
    with_photo: int
    differing: int


@dataclass(frozen=True)
class Results:
    """The whole table and what the pages summarise from it."""

    form: ocr.Form
    rows: tuple[PrecinctResult, ...]
    regions: tuple[RegionSummary, ...]
    has_registry: bool
    has_official: bool

    @property
    def contestants(self) -> tuple[str, ...]:
        groups = self.form.groups
        return tuple(k for g in ("parties", "candidates") for k in groups.get(g, ()))

    @property
    def coverage(self) -> tuple[int, int]:
        """(precincts with a protocol photo, all precincts)."""
        return sum(1 for r in self.rows if r.photos), len(self.rows)

    def totals(self, key: str) -> tuple[int, int]:
        """Protocol and official totals of ``key`` over the precincts where both are known
        (so that the two sums compare the same precincts)."""
        both = [
            r
            for r in self.rows
            if r.protocol.get(key) is not None and r.official.get(key) is not None
        ]
        return (
            sum(r.protocol[key] or 0 for r in both),
            sum(r.official[key] or 0 for r in both),
        )

    def columns(self) -> list[str]:
        out = ["precinct", "region", "district", "photos"]
        for k in self.form.keys:
            out += [f"{k}_protocol", f"{k}_official", f"{k}_difference"]
        return [*out, "turnout_protocol", "turnout_official"]

    def row_dict(self, r: PrecinctResult) -> dict[str, Any]:
        out: dict[str, Any] = {
            "precinct": r.precinct,
            "region": r.region,
            "district": r.district,
            "photos": r.photos,
        }
        for k in self.form.keys:
            out[f"{k}_protocol"] = r.protocol.get(k)
            out[f"{k}_official"] = r.official.get(k)
            out[f"{k}_difference"] = r.difference(k)
        for name, side in (("protocol", r.protocol), ("official", r.official)):
            t = r.turnout(side)
            out[f"turnout_{name}"] = None if t is None else round(t, 4)
        return out

    def to_dict(self) -> dict[str, Any]:
        with_photo, total = self.coverage
        return {
            "form": self.form.id,
            "coverage": {"with_photo": with_photo, "precincts": total},
            "regions": [
                {
                    "region": g.region,
                    "precincts": g.precincts,
                    "with_photo": g.with_photo,
                    "differing": g.differing,
                }
                for g in self.regions
            ],
            "totals": {
                k: dict(zip(("protocol", "official"), self.totals(k), strict=True))
                for k in self.contestants
            },
            "rows": [self.row_dict(r) for r in self.rows],
        }

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        cols = self.columns()
        w.writerow(cols)
        for r in self.rows:
            d = self.row_dict(r)
            w.writerow([_cell(d[c]) for c in cols])
        return buf.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would take for a formula is quoted with ``'``."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _order(p: str) -> tuple[int, str]:
    digits = "".join(ch for ch in p if ch.isdigit())
    return (int(digits) if digits and len(digits) < 12 else 10**12, p)


DEPENDS_ON = (
    events.OCR,
    events.CONFIRM,
    events.OFFICIAL_IMPORT,
    events.PRECINCT_IMPORT,
    events.INGEST,
)
"""The entries the table is made from: while none is added, the table stays the same."""
PROTOCOL_SIDE = (events.OCR, events.CONFIRM, events.INGEST)
"""The entries the protocol side of a precinct is made from (each names its precinct)."""
WHOLE_AGAIN = 300
"""More precincts touched than this since the last look: the protocol side is made again
whole (one pass over every reading) rather than precinct by precinct."""
_MADE: dict[str, Results] = {}


@dataclass(frozen=True)
class _Protocol:
    """The protocol side of one precinct, as :func:`app.official.discrepancies` gives it."""

    photos: int
    figures: dict[str, int | None]
    disagree: tuple[str, ...]


@dataclass
class _View:
    """The protocol side of every precinct with readings, kept up to date: a new entry makes
    again only the precincts it names (at 10,000 precincts the whole takes seconds)."""

    seq: int = -1
    line_hash: str | None = None
    precincts: dict[str, _Protocol] = field(default_factory=dict)
    filed: dict[str, str] = field(default_factory=dict)
    """Each read photo's precinct (a photo read again under another one: made again whole)."""


_VIEWS: Kept[_View] = Kept(_View, most=4)
_LOCK = threading.Lock()


def forget() -> None:
    """Drop what is kept between calls (the next table is made from the log alone)."""
    with _LOCK:
        _MADE.clear()
    with _VIEWS.lock:
        _VIEWS.clear()


def _sides(rows: list[official.Discrepancy]) -> dict[str, _Protocol]:
    out: dict[str, tuple[int, dict[str, int | None], list[str]]] = {}
    for d in rows:
        _, figures, disagree = out.setdefault(d.precinct, (len(d.items), {}, []))
        figures[d.field] = d.protocol
        if d.photos_disagree:
            disagree.append(d.field)
    return {p: _Protocol(n, f, tuple(dis)) for p, (n, f, dis) in out.items()}


def _protocol_side(store: Store) -> dict[str, _Protocol]:
    """Each precinct's protocol figures (those :func:`app.official.discrepancies` chooses),
    photos, and figures the photos disagree on."""
    index = store.index
    index.catch_up()
    with _VIEWS.lock:
        view = _VIEWS.of(index)
        last = index.last_seq()
        if last == view.seq:
            return view.precincts
        whole = view.seq < 0
        touched: set[str] = set()
        for e in index.entries_by_events_after(PROTOCOL_SIDE, view.seq):
            p, sha = e.get("precinct"), e.get("subject", "")
            if e["event"] == events.OCR:
                before = view.filed.get(sha)
                whole = whole or (before is not None and before != str(p))
                view.filed[sha] = str(p)
            elif sha in view.filed:
                touched.add(view.filed[sha])
            if p is not None:
                touched.add(str(p))
        if whole or len(touched) > WHOLE_AGAIN:
            view.precincts = _sides(official.discrepancies(store, only_differences=False))
        else:
            for p in touched:
                side = _sides(official.discrepancies(store, precinct=p, only_differences=False))
                view.precincts.pop(p, None)
                view.precincts.update(side)
        Kept.seen(view, index, last)
        return view.precincts


def results(store: Store) -> Results:
    """The alternative-results table of the store (made again only when an entry it depends
    on was added: many people look at it while few entries change it)."""
    index = store.index
    index.catch_up()
    key = f"{store.root.resolve()}:{index.line_hash(0)}:{index.last_seq_of(DEPENDS_ON)}"
    with _LOCK:
        made = _MADE.get(key)
    if made is None:
        made = _make(store)
        with _LOCK:
            if len(_MADE) >= 4:
                _MADE.pop(next(iter(_MADE)))
            _MADE[key] = made
    return made


def _make(store: Store) -> Results:
    index = store.index
    form = ocr.load_form(store_form(store))
    reg = registry.current(store, index)
    off = official.current(store, index)
    rows: dict[str, PrecinctResult] = {}

    def row(p: str) -> PrecinctResult:
        if p not in rows:
            place = reg.precincts.get(p) if reg else None
            rows[p] = PrecinctResult(
                p, place.region if place else None, place.district if place else None, 0
            )
        return rows[p]

    if reg:
        for p in reg.precincts:
            row(p)
    if off:
        for (p, k), v in off.values.items():
            row(p).official[k] = v
    for p, side in _protocol_side(store).items():
        r = row(p)
        r.photos = side.photos
        r.protocol = dict(side.figures)
        r.photos_disagree = side.disagree
    ordered = sorted(rows.values(), key=lambda r: (not r.differs, _order(r.precinct)))
    by_region: dict[str | None, list[PrecinctResult]] = defaultdict(list)
    for r in ordered:
        by_region[r.region].append(r)
    regions = tuple(
        RegionSummary(
            region,
            len(members),
            sum(1 for m in members if m.photos),
            sum(1 for m in members if m.differs),
        )
        for region, members in sorted(
            by_region.items(), key=lambda kv: (kv[0] is None, kv[0] or "")
        )
    )
    return Results(form, tuple(ordered), regions, reg is not None, off is not None)
