"""The precinct registry as the store holds it: the latest ``precinct-import`` entry's CSV
(number, region, district, address, latitude, longitude), parsed. Ingest takes a precinct's
place from it for the GPS check when the config names none; ``app.registry`` imports it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from base.errors import EXIT_OK, EXIT_REFUSED, UsageError
from evidence.core import events
from evidence.storage.store import Store

if TYPE_CHECKING:  # (the index is loaded by what reads it: intake imports this module)
    from evidence.storage.index import Index

_PRECINCT = re.compile(r"[^\W_][\w\-/]{0,15}")
_MANY_DIGITS = re.compile(r"\d(?:[ \-./]?\d){9,}")


def valid_precinct(precinct: str) -> bool:
    """A precinct number as commissions write it (letters and digits, perhaps a hyphen or a
    slash; up to 16), and never ten digits or more (an IIN or a phone number typed in the
    wrong box)."""
    p = precinct.strip()
    return bool(_PRECINCT.fullmatch(p)) and not _MANY_DIGITS.search(p)


def check_precinct(precinct: str) -> str:
    """``precinct`` stripped, or a usage error (exit 2) before anything is read."""
    p = precinct.strip()
    if not valid_precinct(p):
        raise UsageError(
            "the precinct is not a precinct number"
            + ("" if _MANY_DIGITS.search(p) else f": {p[:40]!r}"),
            fix="give the precinct's number, e.g. 31 or 101-A (up to 16 letters and digits); "
            "an IIN never goes in the precinct",
        )
    return p


@dataclass(frozen=True)
class BadRow:
    """A row of a CSV that was skipped."""

    line: int
    """Its line number (the header is line 1)."""
    reason: str
    """Why it was skipped."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"line": self.line, "reason": self.reason}


COLUMNS = ("number", "region", "district", "address", "latitude", "longitude")
MAX_TEXT = 300


@dataclass(frozen=True)
class Precinct:
    """One precinct of the registry."""

    number: str
    region: str
    district: str
    address: str
    lat: float | None
    lon: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "region": self.region,
            "district": self.district,
            "address": self.address,
            "latitude": self.lat,
            "longitude": self.lon,
        }


@dataclass(frozen=True)
class Registry:
    """Parsed registry: precincts by number, and the rows skipped."""

    precincts: dict[str, Precinct]
    bad_rows: tuple[BadRow, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_REFUSED if self.bad_rows else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "precincts": len(self.precincts),
            "regions": len({p.region for p in self.precincts.values()}),
            "bad_rows": [b.to_dict() for b in self.bad_rows],
        }


def _coordinate(raw: str, limit: float) -> float | None:
    if not raw:
        return None
    value = float(raw.replace(",", "."))
    if not -limit <= value <= limit:
        raise ValueError(raw)
    return value


def parse(data: bytes) -> Registry:
    """Parse the CSV; every bad row is named with its line, good rows are kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(
            "the registry file is not UTF-8 text", fix="save it as UTF-8 CSV"
        ) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise UsageError(f"the registry's first line cannot be read as CSV: {e}") from None
    if header is None or [h.strip().lower() for h in header[:6]] != list(COLUMNS):
        raise UsageError(
            "the first line must be the header: " + ",".join(COLUMNS),
            fix="latitude and longitude may be left empty, the columns must be there",
        )
    out: dict[str, Precinct] = {}
    bad: list[BadRow] = []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) < 6:
                bad.append(BadRow(line_no, "fewer than six columns"))
                continue
            number, region, district, address, lat, lon = (c.strip() for c in row[:6])
            try:
                number = check_precinct(number)
            except UsageError:
                bad.append(BadRow(line_no, "the precinct number is not a precinct number"))
                continue
            if not region:
                bad.append(BadRow(line_no, "no region"))
            elif max(len(region), len(district), len(address)) > MAX_TEXT:
                bad.append(BadRow(line_no, f"a text longer than {MAX_TEXT} characters"))
            elif number in out:
                bad.append(BadRow(line_no, f"precinct {number} given twice"))
            else:
                try:
                    place = (_coordinate(lat, 90), _coordinate(lon, 180))
                except ValueError:
                    bad.append(BadRow(line_no, "latitude or longitude is not a number in range"))
                    continue
                out[number] = Precinct(number, region, district, address, *place)
    except csv.Error as e:
        raise UsageError(
            f"the registry cannot be read as CSV after line {reader.line_num}: {e}",
            fix="check that line (a stray quote)",
        ) from None
    return Registry(out, tuple(bad))


def current(store: Store, index: Index | None = None) -> Registry | None:
    """The latest import, parsed again from its stored object; None before any."""
    index = index or store.index
    imports = list(index.entries_by_event(events.PRECINCT_IMPORT))
    if not imports:
        return None
    sha = imports[-1]["subject"]
    if sha not in _PARSED:
        with store.objects.open(sha) as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != sha:  # the stored object was changed
            raise UsageError(
                f"the precinct registry's object {sha[:16]}… no longer matches its hash",
                fix="run dalel audit, then import the registry again",
            )
        if len(_PARSED) >= 4:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[sha] = parse(data)
    return _PARSED[sha]


_PARSED: dict[str, Registry] = {}
"""Parsed registries by their object's SHA-256 (an object never changes)."""


def location(store: Store, precinct: str) -> tuple[float, float] | None:
    """The precinct's latitude and longitude in the latest registry, if it gives them."""
    try:
        reg = current(store)
    except (OSError, UsageError):  # a registry object missing or unreadable: no place
        return None
    p = reg.precincts.get(str(precinct)) if reg is not None else None
    if p is None or p.lat is None or p.lon is None:
        return None
    return p.lat, p.lon
