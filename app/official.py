"""Official results, and where the protocol's figures differ from them.

The import format is a CSV with a header and three columns::

    precinct,field,value
    12,voters_on_list,1840
    12,amanat,611

``field`` is a figure key of the store's form (``dalel ocr-image --form F --json`` lists
them); ``value`` a whole number. Bad rows are reported with their line number and the good
rows kept. The CSV itself is stored as an object and the import recorded in the custody
log; importing again replaces the previous import (the latest ``official-import`` wins).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any

import ocr
from app import figures as fg
from app.precinct import PrecinctCheck
from app.precinct import checks as precinct_checks
from base.errors import EXIT_OK, EXIT_REFUSED, UsageError
from evidence.content import privacy
from evidence.core import events
from evidence.storage.index import Index
from evidence.storage.store import Store
from pipeline.figures import store_form
from pipeline.registry import BadRow

COLUMNS = ("precinct", "field", "value")


@dataclass(frozen=True)
class OfficialResults:
    """Parsed official results: (precinct, field) -> value. As the result of an import, its
    exit code says whether rows were skipped."""

    values: dict[tuple[str, str], int]
    """Each figure, by (precinct, figure key)."""
    bad_rows: tuple[BadRow, ...]
    """The rows skipped, with their reasons."""
    form: str
    """The form whose figure keys the CSV uses."""

    @property
    def precincts(self) -> int:
        """How many precincts have figures."""
        return len({p for p, _ in self.values})

    @property
    def exit_code(self) -> int:
        """3 when rows were skipped (the good ones were kept), else 0."""
        return EXIT_REFUSED if self.bad_rows else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of an import: ``{"rows": n, "bad_rows": [{line, reason}]}``."""
        return {"rows": len(self.values), "bad_rows": [b.to_dict() for b in self.bad_rows]}


MAX_DIGITS = 12
"""The most digits a figure may have (no precinct counts a trillion ballots)."""


def parse(data: bytes, form: ocr.Form) -> OfficialResults:
    """Parse the CSV; every bad row is named with its line, good rows are kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(
            "the official results file is not UTF-8 text", fix="save it as UTF-8 CSV"
        ) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise UsageError(
            f"the first line of the official results file cannot be read as CSV: {e}",
            fix="the first line must be the header: precinct,field,value",
        ) from None
    if header is None or [h.strip().lower() for h in header[:3]] != list(COLUMNS):
        raise UsageError(
            "the first line must be the header: precinct,field,value",
            fix="see `dalel official import --help` for the format",
        )
    keys = set(form.keys)
    values: dict[tuple[str, str], int] = {}
    bad: list[BadRow] = []
    rows = enumerate(reader, start=2)
    while True:
        try:
            line_no, row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:
            raise UsageError(
                f"the official results file cannot be read as CSV after line "
                f"{reader.line_num}: {e}",
                fix="check that line (a field over 128 KB or a stray quote)",
            ) from None
        if not any(c.strip() for c in row):
            continue
        if len(row) < 3:
            bad.append(BadRow(line_no, "fewer than three columns"))
            continue
        precinct, key, raw = (c.strip() for c in row[:3])
        if not precinct:
            bad.append(BadRow(line_no, "no precinct"))
        elif key not in keys:
            bad.append(BadRow(line_no, f"unknown field {key!r} for form {form.id}"))
        elif not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_DIGITS:
            bad.append(BadRow(line_no, f"value {raw!r} is not a whole number"))
        elif (precinct, key) in values and values[(precinct, key)] != int(raw):
            bad.append(BadRow(line_no, f"precinct {precinct} {key} given twice, differently"))
        else:
            values[(precinct, key)] = int(raw)
    return OfficialResults(values, tuple(bad), form.id)


def import_csv(store: Store, data: bytes) -> OfficialResults:
    """Store and log an import; it replaces the previous one."""
    form = ocr.load_form(store_form(store))
    results = parse(data, form)
    with store.writer() as w:
        stored = store.objects.put_bytes(data)
        previous = list(w.index.entries_by_event(events.OFFICIAL_IMPORT))
        w.append(
            {
                "event": events.OFFICIAL_IMPORT,
                "subject": stored.sha256,
                "form": form.id,
                "rows": len(results.values),
                "precincts": len({p for p, _ in results.values}),
                "bad_rows": [
                    {"line": b.line, "reason": privacy.scrub(store.secret, b.reason)}
                    for b in results.bad_rows
                ],
                "replaces": previous[-1]["seq"] if previous else None,
                "objects": [
                    {"sha256": stored.sha256, "role": "official-results", "size": stored.size}
                ],
            }
        )
    return results


def current(store: Store, index: Index) -> OfficialResults | None:
    """The latest import, parsed again from its stored object (once per process: an object
    never changes, so its parse is kept by its SHA-256 and form)."""
    imports = list(index.entries_by_event(events.OFFICIAL_IMPORT))
    if not imports:
        return None
    latest = imports[-1]
    key = (latest["subject"], latest["form"])
    if key not in _PARSED:
        with store.objects.open(latest["subject"]) as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != latest["subject"]:
            return parse(data, ocr.load_form(latest["form"]))  # the audit says why
        if len(_PARSED) >= 4:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = parse(data, ocr.load_form(latest["form"]))
    return _PARSED[key]


_PARSED: dict[tuple[str, str], OfficialResults] = {}


@dataclass(frozen=True)
class Discrepancy:
    """One figure of one precinct: the protocol's against the official one."""

    precinct: str
    """The precinct."""
    field: str
    """The figure's key."""
    protocol: int | None
    """The protocol's figure (None when it was not read for sure)."""
    official: int | None
    """The official figure (None when the official results do not give it)."""
    source: str | None
    """Where the protocol's figure comes from: ``confirmed``, ``accepted`` or None."""
    items: tuple[str, ...]
    """The precinct's protocol photos."""
    photos_disagree: bool
    """True when the photos give different values for the figure."""
    precinct_mismatch: tuple[PrecinctCheck, ...] = ()
    """The precinct's photos whose sheet shows another precinct's number
    (``PRECINCT_MISMATCH``): their figures are not counted in ``protocol``."""

    @property
    def difference(self) -> int | None:
        """Protocol minus official; None when either is missing."""
        if self.protocol is None or self.official is None:
            return None
        return self.protocol - self.official

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``difference``."""
        return {
            "precinct": self.precinct,
            "field": self.field,
            "protocol": self.protocol,
            "official": self.official,
            "difference": self.difference,
            "source": self.source,
            "items": list(self.items),
            "photos_disagree": self.photos_disagree,
            "precinct_mismatch": [
                {"item": c.item, "precinct_on_sheet": c.on_sheet, "status": c.status}
                for c in self.precinct_mismatch
            ],
        }


def discrepancies(
    store: Store, *, precinct: str | None = None, only_differences: bool = False
) -> list[Discrepancy]:
    """For each precinct with protocol readings and each figure: protocol vs official.

    A photo whose sheet shows another precinct's number (``PRECINCT_MISMATCH``) is not
    counted: the protocol's figure comes from the precinct's other photos, and the row names
    it. With ``only_differences``, a row is kept when the figures differ, or when such a
    photo gives the figure otherwise than the official results or the counted photos (a
    difference it would have made)."""
    index = store.index
    index.catch_up()
    official = current(store, index)
    out: list[Discrepancy] = []
    for g in fg.group(fg.readings(index, precinct)):
        disagreeing = {d.field for d in g.disagreements}
        counted = [p for p in g.photos if p.counts]
        left_out = [p for p in g.photos if not p.counts]
        mismatches = g.precinct_mismatches  # once per precinct, not once per figure
        for key in g.photos[0].figures:
            # A confirmed figure wins; else an accepted one; photos that disagree give none.
            chosen: tuple[int | None, str | None] = (None, None)
            for p in counted:
                f = p.figures.get(key)
                if f is not None and f.source == "confirmed":
                    chosen = (f.value, "confirmed")
            if chosen[0] is None and key not in disagreeing:
                for p in counted:
                    f = p.figures.get(key)
                    if f is not None and f.source == "accepted":
                        chosen = (f.value, "accepted")
                        break
            off = official.values.get((g.precinct, key)) if official else None
            d = Discrepancy(
                g.precinct,
                key,
                chosen[0],
                off,
                chosen[1],
                tuple(p.item for p in g.photos),
                key in disagreeing,
                mismatches,
            )
            hidden = bool(left_out) and any(
                (v := p.figures[key].value) is not None
                and ((off is not None and v != off) or (chosen[0] not in (None, v)))
                for p in left_out
                if key in p.figures
            )
            if not only_differences or d.difference not in (0, None) or hidden:
                out.append(d)
    return out


@dataclass(frozen=True)
class DiscrepancyTable:
    """Protocol figures against the official ones, as :func:`compare` found them."""

    rows: tuple[Discrepancy, ...]
    """One row per precinct and figure."""
    show_all: bool
    """True when figures that match are listed too."""
    precinct_mismatch: tuple[PrecinctCheck, ...] = ()
    """Every photo compared whose sheet shows another precinct's number, whether or not a
    row names it (for the text form; the JSON names them in the rows)."""

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list of rows."""
        return [r.to_dict() for r in self.rows]


def compare(
    store: Store, *, precinct: str | None = None, show_all: bool = False
) -> DiscrepancyTable:
    """Protocol figures (confirmed, else accepted) against the official ones: only those that
    differ, or every figure with ``show_all``."""
    rows = discrepancies(store, precinct=precinct, only_differences=not show_all)
    index = store.index
    flagged = tuple(c for c in precinct_checks(index, precinct).values() if c.mismatch)
    return DiscrepancyTable(tuple(rows), show_all, flagged)
