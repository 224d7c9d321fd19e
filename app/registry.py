"""The precinct registry: number, region, district, address and place of every precinct.

``dalel precinct import FILE.csv`` takes the list the CEC publishes, with a header::

    number,region,district,address,latitude,longitude
    31,Алматы,Бостандық ауданы,"Әл-Фараби д., 71",43.2220,76.9250

Latitude and longitude may be empty. Bad rows are reported with their line number and the good
rows kept. The CSV is stored as an object and the import recorded in the custody log; the
latest import wins. The alternative results count coverage against it and group precincts by
its regions.
"""

from __future__ import annotations

from base.errors import UsageError
from evidence.core import events
from evidence.storage.store import Store
from pipeline.registry import (
    COLUMNS,
    MAX_TEXT,
    BadRow,
    Precinct,
    Registry,
    current,
    location,
    parse,
)

__all__ = [
    "COLUMNS",
    "MAX_TEXT",
    "BadRow",
    "Precinct",
    "Registry",
    "current",
    "import_csv",
    "location",
    "parse",
]


def import_csv(store: Store, data: bytes) -> Registry:
    """Store and log an import; it replaces the previous one."""
    registry = parse(data)
    if not registry.precincts:
        raise UsageError("the registry has no good row", fix="see the rows reported above")
    with store.writer() as w:
        stored = store.objects.put_bytes(data)
        previous = list(w.index.entries_by_event(events.PRECINCT_IMPORT))
        w.append(
            {
                "event": events.PRECINCT_IMPORT,
                "subject": stored.sha256,
                "rows": len(registry.precincts),
                "bad_rows": [b.to_dict() for b in registry.bad_rows],
                "replaces": previous[-1]["seq"] if previous else None,
                "objects": [
                    {"sha256": stored.sha256, "role": "precinct-registry", "size": stored.size}
                ],
            }
        )
    return registry
