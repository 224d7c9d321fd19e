"""The kinds of custody entries, each with its schema: one place for every event name.

A custody entry is a JSON object; ``v``, ``seq``, ``prev`` and ``time`` are filled in by the
writer, ``event`` names its kind, and each kind has the fields listed here (its own, beside
the optional ones every entry may carry: ``actor``, ``subject``, ``precinct``, ``kind``,
``objects``). :func:`check` is what the writer runs on every entry before it signs it, so an
entry missing a field, or of a kind nobody declared, never reaches the log.

The schema says what must be there and of which JSON type; it does not forbid more (an entry
kind may grow fields without a new format version, and old logs keep verifying).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from base.errors import DalelError

INGEST = "ingest"
REFUSED = "refused"
TIMESTAMP = "timestamp"
DERIVE = "derive"
OCR = "ocr"
CONFIRM = "confirm"
OFFICIAL_IMPORT = "official-import"
CASE_NEW = "case-new"
CASE_SET = "case-set"
CASE_EVIDENCE = "case-evidence"
DOSSIER = "dossier"
OBSERVER_INVITE = "observer-invite"
OBSERVER_REVOKE = "observer-revoke"
USER_ADD = "user-add"
USER_CHANGE = "user-change"
USER_SIGN_IN = "user-sign-in"
USER_SIGN_OUT = "user-sign-out"
USER_LOCKED = "user-locked"
REVIEW_ENTRY = "review-entry"
PRECINCT_IMPORT = "precinct-import"
SIGNUP = "signup"
SIGNUP_APPROVE = "signup-approve"
SIGNUP_DECLINE = "signup-decline"
COVERAGE_EXPORT = "coverage-export"
COVERAGE_IMPORT = "coverage-import"

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "array": (list,),
    "any": (object,),
}


@dataclass(frozen=True)
class EventKind:
    """One kind of custody entry."""

    name: str
    """The ``event`` value."""
    required: Mapping[str, str]
    """Field name -> JSON type (``str``, ``int``, ``bool``, ``object``, ``array``, ``any``)."""
    receipted: bool = False
    """Whether an entry of this kind earns its submitter a receipt."""
    names_item: bool = False
    """Whether ``item`` (sha256, size, media_type) describes a stored object it adds."""
    doc: str = ""
    """What the entry records, for people reading the log."""


_ITEM = {"sha256": "str", "size": "int", "media_type": "str"}

KINDS: dict[str, EventKind] = {
    k.name: k
    for k in (
        EventKind(
            INGEST,
            {
                "actor": "object",
                "item": "object",
                "name": "str",
                "path": "str",
                "precinct": "str",
                "kind": "str",
                "metadata": "object",
            },
            receipted=True,
            names_item=True,
            doc="a file handed in by an observer, stored and described",
        ),
        EventKind(
            REFUSED,
            {"actor": "object", "reason": "str", "quarantine": "str"},
            doc="an input refused and kept in quarantine with its reason",
        ),
        EventKind(
            TIMESTAMP,
            {"tokens": "array", "objects": "array"},
            doc="RFC 3161 tokens obtained for items and checkpoints",
        ),
        EventKind(
            DERIVE,
            {"subject": "str", "item": "object", "operation": "str", "params": "object"},
            names_item=True,
            doc="a new object derived from an item (a redacted copy, a still)",
        ),
        EventKind(
            OCR,
            {
                "subject": "str",
                "precinct": "str",
                "form": "str",
                "engine": "object",
                "figures": "object",
                "objects": "array",
            },
            doc="the figures read off a protocol photo",
        ),
        EventKind(
            CONFIRM,
            {
                "subject": "str",
                "actor": "object",
                "field": "str",
                "value": "int",
                "reading_seq": "int",
            },
            doc="a person's reading of one figure, beside the machine's",
        ),
        EventKind(
            OFFICIAL_IMPORT,
            {"subject": "str", "form": "str", "rows": "int", "objects": "array"},
            doc="a file of official results imported for comparison",
        ),
        EventKind(
            CASE_NEW,
            {
                "case": "str",
                "case_kind": "str",
                "precinct": "str",
                "addressee": "str",
                "event_date": "str",
            },
            doc="a complaint case opened",
        ),
        EventKind(
            CASE_SET,
            {"case": "str", "field": "str", "value": "any"},
            doc="a detail of a case set (personal details are never logged)",
        ),
        EventKind(
            CASE_EVIDENCE, {"case": "str", "subject": "str"}, doc="an item attached to a case"
        ),
        EventKind(
            DOSSIER,
            {
                "case": "str",
                "subject": "str",
                "edition": "str",
                "language": "str",
                "exhibits": "array",
                "objects": "array",
            },
            doc="a signed dossier built for a case",
        ),
        EventKind(
            OBSERVER_INVITE,
            {"invite": "str", "precinct": "str", "expires": "str"},
            doc="an observer invited to hand in files from a phone (no token, no name)",
        ),
        EventKind(
            OBSERVER_REVOKE,
            {"invite": "str"},
            doc="an observer's invite withdrawn: its link no longer works",
        ),
        EventKind(
            USER_ADD,
            {"user": "str", "role": "str"},
            doc="a workspace account made (its pseudonym and role; never a name or password)",
        ),
        EventKind(
            USER_CHANGE,
            {"user": "str", "change": "str"},
            doc="a workspace account or setting changed (a new password, disabled, enabled)",
        ),
        EventKind(USER_SIGN_IN, {"user": "str"}, doc="a workspace user signed in"),
        EventKind(USER_SIGN_OUT, {"user": "str"}, doc="a workspace user signed out"),
        EventKind(
            USER_LOCKED,
            {"user": "str", "until": "str"},
            doc="a workspace account locked after repeated wrong passwords",
        ),
        EventKind(
            PRECINCT_IMPORT,
            {"subject": "str", "rows": "int", "objects": "array"},
            doc="a precinct registry imported (number, region, district, address, place)",
        ),
        EventKind(
            COVERAGE_EXPORT,
            {"subject": "str", "precincts": "int"},
            doc="this store's coverage exported as a signed note (its hash; which precincts "
            "are taken and for which shifts, never who the observers are)",
        ),
        EventKind(
            COVERAGE_IMPORT,
            {
                "subject": "str",
                "origin": "str",
                "organisation": "str",
                "verifier": "str",
                "precincts": "int",
                "objects": "array",
            },
            doc="another organisation's coverage note imported, its signature checked",
        ),
        EventKind(
            SIGNUP,
            {"signup": "str", "precinct": "str", "shift": "str"},
            doc="a volunteer signed up on the public page (its id, precinct and shift; the "
            "name and contact stay in the workspace's own file, never here)",
        ),
        EventKind(
            SIGNUP_APPROVE,
            {"signup": "str", "actor": "object", "invite": "str"},
            doc="a sign-up approved by a coordinator (their pseudonym), with the invite made",
        ),
        EventKind(
            SIGNUP_DECLINE,
            {"signup": "str", "actor": "object"},
            doc="a sign-up declined by a coordinator (their pseudonym)",
        ),
        EventKind(
            REVIEW_ENTRY,
            {"field": "str", "value": "int", "reading_seq": "int"},
            doc="a reviewer's blind entry of one figure of a protocol photo (double entry: two "
            "reviewers' equal entries confirm it)",
        ),
    )
}

#: Entry kinds that earn a receipt.
RECEIPTED = frozenset(k.name for k in KINDS.values() if k.receipted)
#: Entry kinds whose ``item`` adds an object to the store's items.
ITEM_EVENTS = frozenset(k.name for k in KINDS.values() if k.names_item)


class SchemaError(DalelError, ValueError):
    """An entry that does not match its kind's schema (a bug in the code that built it; the
    entry is refused before it is signed, and nothing reaches the log)."""


def _is(value: Any, json_type: str) -> bool:
    if json_type == "int" and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def problems(entry: Mapping[str, Any]) -> list[str]:
    """Every way ``entry`` departs from its kind's schema (empty when it matches)."""
    kind = KINDS.get(str(entry.get("event")))
    if kind is None:
        return [f"unknown event {entry.get('event')!r}"]
    out = [
        f"{kind.name}: field {name!r} must be {t}"
        for name, t in kind.required.items()
        if not _is(entry.get(name), t)
    ]
    if kind.names_item and isinstance(entry.get("item"), dict):
        out += [
            f"{kind.name}: item.{name} must be {t}"
            for name, t in _ITEM.items()
            if not _is(entry["item"].get(name), t)
        ]
    return out


def check(entry: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaError` naming every problem when ``entry`` breaks its schema."""
    found = problems(entry)
    if found:
        raise SchemaError("; ".join(found))
