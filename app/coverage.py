"""Every precinct watched: the coverage board, and coverage exchanged between organisations.

A precinct is **covered** when an approved observer holds each shift of election day (the
morning, the evening, the count; a whole day holds all three), **partly** covered when some
are held, **uncovered** when none is. The board counts them per region and district of the
precinct registry, marks where two organisations' observers **overlap** (the same precinct
and shift), and on election day which precincts have sent a protocol photo yet.

Two organisations divide a city without sharing who their observers are: ``dalel coverage
export`` writes which precincts this store's approved sign-ups hold, and for which shifts, as
a C2SP signed note (the store's log key signs it; its verifier key is in the note), and
``dalel coverage import`` checks the signature (a changed byte is refused), refuses a note of
this very store, and trusts a key on first use: a later note of the same origin signed by
another key is refused unless told. The latest note of each origin counts.

The note's body, line by line::

    dalel-coverage/1
    origin dalel.kz/coalition/3f2a…
    organisation Coalition «Адал сайлау»
    made 2026-12-04T18:00:00Z
    verifier dalel.kz/coalition/3f2a…+1a2b3c4d+AQ…
    precinct 31 day
    precinct 32 morning count
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from base.errors import EXIT_REFUSED, UsageError
from evidence.core import custody, events
from evidence.core.keys import PublicKey
from evidence.storage.store import Store
from pipeline.registry import current as current_registry
from pipeline.registry import valid_precinct

FORMAT = "dalel-coverage/1"
SHIFTS = ("morning", "evening", "count")
"""The shifts a precinct needs held to be covered."""
DAY = "day"
"""A whole day: holds every shift."""
KNOWN = (DAY, *SHIFTS)
MAX_NOTE = 8 * 2**20
"""The largest note taken (100,000 precincts fit in 4 MiB)."""
EM_DASH = "\u2014"
COVERED, PARTLY, UNCOVERED = "covered", "partly", "uncovered"


class CoverageRefused(UsageError):
    """A coverage note refused, with its named reason."""

    exit_code = EXIT_REFUSED

    def __init__(self, reason: str, message: str, fix: str = "") -> None:
        super().__init__(f"{message} ({reason})", fix=fix or None)
        self.reason = reason


def held(shifts: Iterable[str]) -> frozenset[str]:
    """The shifts of :data:`SHIFTS` that ``shifts`` hold (a whole day holds them all)."""
    s = set(shifts)
    return frozenset(SHIFTS) if DAY in s else frozenset(s & set(SHIFTS))


def state(shifts: frozenset[str]) -> str:
    """``covered``, ``partly`` or ``uncovered``."""
    return COVERED if len(shifts) == len(SHIFTS) else PARTLY if shifts else UNCOVERED


# --- the exchange --------------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    """A coverage note, its signature checked."""

    origin: str
    """The log origin of the store that made it (what names the organisation's store)."""
    organisation: str
    made: str
    """When it was made (RFC 3339 UTC)."""
    verifier: str
    """The signed-note verifier key that signed it."""
    precincts: dict[str, frozenset[str]]
    """Precinct -> the shifts its observers hold (as written: ``day`` kept)."""
    sha256: str = ""
    """SHA-256 of the note's bytes."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the precincts counted, not listed)."""
        return {
            "origin": self.origin,
            "organisation": self.organisation,
            "made": self.made,
            "verifier": self.verifier,
            "precincts": len(self.precincts),
            "sha256": self.sha256,
        }


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def note_body(
    origin: str, organisation: str, made: str, verifier: str, precincts: Mapping[str, Iterable[str]]
) -> str:
    """The body of a coverage note (every line ends in a newline)."""
    lines = [
        FORMAT,
        f"origin {origin}",
        f"organisation {_one_line(organisation)}",
        f"made {made}",
        f"verifier {verifier}",
    ]
    for p in sorted(precincts, key=_order):
        shifts = sorted(set(precincts[p]), key=KNOWN.index)
        if shifts:
            lines.append(f"precinct {p} {' '.join(shifts)}")
    return "\n".join(lines) + "\n"


def _order(p: str) -> tuple[int, str]:
    digits = "".join(c for c in p if c.isdigit())
    return (int(digits) if digits else 10**9, p)


def make_note(
    store: Store, precincts: Mapping[str, Iterable[str]], now: datetime | None = None
) -> bytes:
    """This store's coverage as a signed note (its log key signs it)."""
    key = store.log_key
    made = custody.rfc3339(now or datetime.now(UTC))
    body = note_body(store.config.origin, store.config.org, made, key.public.verifier(),
                     precincts).encode()  # fmt: skip
    sig = base64.b64encode(key.public.id + key.sign(body)).decode()
    return body + f"\n{EM_DASH} {key.name} {sig}\n".encode()


def parse_note(data: bytes) -> Note:
    """Read and check a coverage note: its body, and its signature by the verifier key it
    names. Raises :class:`CoverageRefused` (``BAD_NOTE``, ``BAD_SIGNATURE``, ``TOO_LARGE``)."""
    if len(data) > MAX_NOTE:
        raise CoverageRefused("TOO_LARGE", f"a coverage note is at most {MAX_NOTE >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CoverageRefused("BAD_NOTE", "the file is not a coverage note (not UTF-8)") from None
    body, sep, sigs = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or lines[0] != FORMAT or len(lines) < 5:
        raise CoverageRefused(
            "BAD_NOTE", f"the file is not a coverage note (its first line is not {FORMAT})",
            fix="make one with: dalel coverage export",
        )  # fmt: skip
    head: dict[str, str] = {}
    for line, name in zip(lines[1:5], ("origin", "organisation", "made", "verifier"), strict=True):
        word, _, value = line.partition(" ")
        if word != name or not value:
            raise CoverageRefused("BAD_NOTE", f"the note's line {name!r} is missing or empty")
        head[name] = value
    try:
        made_at(head["made"])
    except ValueError:
        raise CoverageRefused("BAD_NOTE", "the note's time is not an RFC 3339 time") from None
    try:
        key = PublicKey.from_verifier(head["verifier"])
    except ValueError:
        raise CoverageRefused("BAD_NOTE", "the note's verifier key cannot be read") from None
    signed = False
    for line in sigs.split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH:
            raise CoverageRefused("BAD_NOTE", "a signature line of the note cannot be read")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise CoverageRefused("BAD_NOTE", "a signature of the note is not base64") from None
        if (
            parts[1] == key.name
            and raw[:4] == key.id
            and key.verify(raw[4:], (body + "\n").encode())
        ):
            signed = True
    if not signed:
        raise CoverageRefused(
            "BAD_SIGNATURE",
            "the note's signature does not match it: it was changed after it was signed, or "
            "not signed by the key it names",
            fix="ask the other organisation for the file again, exactly as exported",
        )
    if key.name != head["origin"]:
        raise CoverageRefused("BAD_NOTE", "the note is signed by a key of another origin")
    precincts: dict[str, frozenset[str]] = {}
    for n, line in enumerate(lines[5:], start=6):
        if not line:
            continue
        parts = line.split(" ")
        number, shifts = (parts[1], parts[2:]) if len(parts) >= 3 else ("", [])
        if (
            parts[0] != "precinct"
            or not shifts
            or number != number.strip()
            or not valid_precinct(number)
        ):
            raise CoverageRefused("BAD_NOTE", f"line {n} of the note is not 'precinct N SHIFT…'")
        if number in precincts or any(s not in KNOWN for s in shifts):
            raise CoverageRefused("BAD_NOTE", f"line {n}: a precinct twice or an unknown shift")
        precincts[number] = frozenset(shifts)
    return Note(
        head["origin"], head["organisation"], head["made"], head["verifier"], precincts,
        hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def made_at(text: str) -> datetime:
    """A note's ``made`` time (RFC 3339, UTC); ValueError when it is not one."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(text)
    return t


def export(store: Store, precincts: Mapping[str, Iterable[str]] | None = None) -> bytes:
    """This store's coverage (its approved sign-ups, unless ``precincts`` is given) as a
    signed note; the export is recorded in the custody log (its hash and size, not the
    precincts)."""
    held_by = {
        p: frozenset(s) for p, s in (ours(store) if precincts is None else precincts).items()
    }
    data = make_note(store, held_by)
    with store.writer() as w:
        w.append(
            {
                "event": events.COVERAGE_EXPORT,
                "subject": hashlib.sha256(data).hexdigest(),
                "precincts": len([p for p, s in held_by.items() if s]),
            }
        )
    return data


def import_note(store: Store, data: bytes, *, new_key: bool = False) -> Note:
    """Check and keep another organisation's coverage note; the latest of each origin counts.
    Refuses a changed note, this store's own, and (unless ``new_key``) a note of an origin
    seen before signed by another key."""
    note = parse_note(data)
    if note.origin == store.config.origin:
        raise CoverageRefused("OWN_NOTE", "this note was exported by this very store")
    seen = [
        e
        for e in store.index.entries_by_event(events.COVERAGE_IMPORT)
        if e.get("origin") == note.origin
    ]
    if seen and seen[-1].get("verifier") != note.verifier and not new_key:
        raise CoverageRefused(
            "KEY_CHANGED",
            f"{note.origin} signed its earlier notes with another key",
            fix="if the organisation says its key changed, import with --new-key",
        )
    if seen and made_at(note.made) <= made_at(str(seen[-1].get("made"))):
        raise CoverageRefused(
            "STALE_NOTE",
            f"{note.origin}'s note held here is as new as this one or newer ({seen[-1]['made']})",
            fix="ask the organisation for its latest export",
        )
    with store.writer() as w:
        stored = store.objects.put_bytes(data)
        w.append(
            {
                "event": events.COVERAGE_IMPORT,
                "subject": stored.sha256,
                "origin": note.origin,
                "organisation": note.organisation,
                "verifier": note.verifier,
                "made": note.made,
                "precincts": len(note.precincts),
                "objects": [
                    {"sha256": stored.sha256, "role": "coverage-note", "size": stored.size}
                ],
            }
        )
    return note


_NOTES: dict[str, Note] = {}


def imported(store: Store) -> list[Note]:
    """The latest note of each origin imported, by organisation."""
    latest: dict[str, str] = {}
    for e in store.index.entries_by_event(events.COVERAGE_IMPORT):
        latest[e["origin"]] = e["subject"]
    out = []
    for sha in latest.values():
        if sha not in _NOTES:
            with store.objects.open(sha) as f:
                if len(_NOTES) >= 64:
                    _NOTES.pop(next(iter(_NOTES)))
                _NOTES[sha] = parse_note(f.read())
        out.append(_NOTES[sha])
    return sorted(out, key=lambda n: (n.organisation, n.origin))


def labels(notes: list[Note]) -> dict[str, str]:
    """How the board names each origin's organisation: its name, and where two origins give
    the same name (a second store, or one posing as the first), its origin too."""
    names: dict[str, int] = {}
    for n in notes:
        names[n.organisation] = names.get(n.organisation, 0) + 1
    return {
        n.origin: n.organisation if names[n.organisation] == 1 else f"{n.organisation} ({n.origin})"
        for n in notes
    }


def ours(store: Store) -> dict[str, frozenset[str]]:
    """This store's own coverage: the shifts of its approved sign-ups, by precinct."""
    from app import signups

    return dict(signups.approved_shifts(store))


# --- the board ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrecinctCoverage:
    """One precinct on the board."""

    number: str
    region: str | None
    """From the registry (None: not in it)."""
    district: str | None
    ours: frozenset[str]
    """The shifts this organisation's approved observers hold (``day`` expanded)."""
    others: dict[str, frozenset[str]]
    """Another organisation's name -> the shifts its observers hold."""
    photo: bool
    """A protocol photo of it has been received."""

    @property
    def shifts(self) -> frozenset[str]:
        """Every shift held, by anyone."""
        return self.ours.union(*self.others.values())

    @property
    def state(self) -> str:
        return state(self.shifts)

    @property
    def overlap(self) -> bool:
        """Two organisations hold the same shift here."""
        held_by = [self.ours, *self.others.values()]
        seen: set[str] = set()
        for shifts in held_by:
            if seen & shifts:
                return True
            seen |= shifts
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "precinct": self.number,
            "region": self.region,
            "district": self.district,
            "state": self.state,
            "ours": sorted(self.ours, key=SHIFTS.index),
            "others": {o: sorted(s, key=SHIFTS.index) for o, s in sorted(self.others.items())},
            "overlap": self.overlap,
            "protocol_photo": self.photo,
        }


@dataclass
class Counts:
    """The board's counts over some precincts."""

    precincts: int = 0
    covered: int = 0
    partly: int = 0
    uncovered: int = 0
    overlap: int = 0
    photo: int = 0
    """Precincts with a protocol photo received."""
    watched_without_photo: int = 0
    """Covered or partly covered precincts with no protocol photo yet (the gaps to chase)."""

    def add(self, p: PrecinctCoverage) -> None:
        self.precincts += 1
        st = p.state
        setattr(self, st, getattr(self, st) + 1)
        self.overlap += p.overlap
        self.photo += p.photo
        self.watched_without_photo += st != UNCOVERED and not p.photo

    def to_dict(self) -> dict[str, int]:
        return {
            "precincts": self.precincts,
            "covered": self.covered,
            "partly": self.partly,
            "uncovered": self.uncovered,
            "overlap": self.overlap,
            "protocol_photo": self.photo,
            "watched_without_photo": self.watched_without_photo,
        }


@dataclass(frozen=True)
class Board:
    """The coverage board."""

    organisation: str
    precincts: tuple[PrecinctCoverage, ...]
    """Region by region, then by number."""
    regions: tuple[tuple[str | None, Counts], ...]
    districts: tuple[tuple[str | None, str | None, Counts], ...]
    total: Counts
    notes: tuple[Note, ...]
    """The other organisations' notes counted."""
    has_registry: bool
    places: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Precinct -> (latitude, longitude), where the registry gives one."""

    def to_dict(self, *, precincts: bool = True) -> dict[str, Any]:
        """The JSON form (``dalel coverage show --json`` leaves the precincts out)."""
        out: dict[str, Any] = {
            "organisation": self.organisation,
            "total": self.total.to_dict(),
            "regions": [{"region": r, **c.to_dict()} for r, c in self.regions],
            "districts": [
                {"region": r, "district": d, **c.to_dict()} for r, d, c in self.districts
            ],
            "imported": [n.to_dict() for n in self.notes],
            "has_registry": self.has_registry,
        }
        if precincts:
            out["precincts"] = [p.to_dict() for p in self.precincts]
        return out


def board(store: Store) -> Board:
    """The coverage board of ``store``: its registry, its approved sign-ups, the notes of
    other organisations it imported, and the protocol photos it received."""
    index = store.index
    index.catch_up()
    reg = current_registry(store, index)
    mine = {p: held(s) for p, s in ours(store).items()}
    notes = imported(store)
    theirs: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
    named = labels(notes)
    for n in notes:
        name = named[n.origin]  # one row per origin: a name is only what a note says
        for p, s in n.precincts.items():
            theirs[p][name] = theirs[p].get(name, frozenset()) | held(s)
    photos = index.precincts_with_kind("protocol")
    numbers = set(reg.precincts) if reg else set()
    numbers |= set(mine) | set(theirs)
    out = []
    for p in numbers:
        place = reg.precincts.get(p) if reg else None
        out.append(
            PrecinctCoverage(
                p,
                place.region if place else None,
                place.district if place else None,
                mine.get(p, frozenset()),
                theirs.get(p, {}),
                p in photos,
            )
        )
    out.sort(key=lambda c: (c.region is None, c.region or "", c.district or "", _order(c.number)))
    total = Counts()
    regions: dict[str | None, Counts] = {}
    districts: dict[tuple[str | None, str | None], Counts] = {}
    for c in out:
        total.add(c)
        regions.setdefault(c.region, Counts()).add(c)
        districts.setdefault((c.region, c.district), Counts()).add(c)
    places: dict[str, tuple[float, float]] = {}
    for num, q in reg.precincts.items() if reg else ():
        if q.lat is not None and q.lon is not None:
            places[num] = (q.lat, q.lon)
    return Board(
        store.config.org,
        tuple(out),
        tuple(regions.items()),
        tuple((r, d, c) for (r, d), c in districts.items()),
        total,
        tuple(notes),
        reg is not None,
        places,
    )


def to_csv(b: Board) -> str:
    """Every precinct of the board as CSV (cells that a spreadsheet would run are quoted
    with a leading apostrophe)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["precinct", "region", "district", "state", *SHIFTS, "other_organisations",
                "overlap", "protocol_photo"])  # fmt: skip
    for p in b.precincts:
        w.writerow(
            [
                _safe(p.number),
                _safe(p.region or ""),
                _safe(p.district or ""),
                p.state,
                *(
                    "ours"
                    if s in p.ours
                    else "other"
                    if any(s in o for o in p.others.values())
                    else ""
                    for s in SHIFTS
                ),
                _safe("; ".join(sorted(p.others))),
                "yes" if p.overlap else "",
                "yes" if p.photo else "",
            ]
        )
    return buf.getvalue()


def _safe(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
