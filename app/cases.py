"""Complaint cases: created, filled and given evidence through the custody log.

Every change to a case is a custody entry (``case-new``, ``case-evidence``, ``case-set``),
so a case's history is as auditable as its evidence. The complainant's personal data
(name, IIN, address, phone) never enters the log: it is sealed with AES-GCM under the
store's data key in ``cases/<id>.complainant``, and the log only records that it changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from app import deadlines, items, official
from base.errors import UsageError
from base.fsio import atomic_write
from evidence.content import privacy
from evidence.core import events
from evidence.storage import vault
from evidence.storage.index import Index
from evidence.storage.store import Store
from evidence.storage.writer import Writer
from pipeline.registry import check_precinct

PUBLIC_FIELDS = (
    "title",
    "respondent",
    "respondent_address",
    "facts",
    "legal_grounds",
    "relief",
    "event_date",
    "addressee",
    "addressee_name",
)
PERSONAL_FIELDS = ("name", "iin", "address", "phone")
EARLIEST_EVENT_DATE = date(2000, 1, 1)
"""The earliest event date a case accepts."""
LATEST_EVENT_DATE = date(2100, 12, 31)
"""The latest event date a case accepts."""
_DATE_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_event_date(day: date) -> date:
    """``day`` when it lies between :data:`EARLIEST_EVENT_DATE` and :data:`LATEST_EVENT_DATE`;
    a usage error otherwise."""
    if not EARLIEST_EVENT_DATE <= day <= LATEST_EVENT_DATE:
        raise UsageError(
            f"the event date {day.isoformat()} is not between "
            f"{EARLIEST_EVENT_DATE.isoformat()} and {LATEST_EVENT_DATE.isoformat()}",
            fix="give the day of the decision or action complained of, as YYYY-MM-DD",
        )
    return day


def parse_event_date(text: str) -> date:
    """The event date written as YYYY-MM-DD in ``text``, checked by :func:`check_event_date`;
    a usage error when it is not such a date."""
    wrong = UsageError(
        f"the event date {text[:40]!r} is not a date written YYYY-MM-DD",
        fix="give the day as YYYY-MM-DD, e.g. 2026-03-15",
    )
    if not _DATE_FORMAT.fullmatch(text.strip()):
        raise wrong
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise wrong from None
    return check_event_date(day)


@dataclass(frozen=True)
class Complainant:
    """The complainant's personal data (decrypted only when a dossier needs it)."""

    name: str = ""
    """Full name."""
    iin: str = ""
    """Individual identification number (12 digits)."""
    address: str = ""
    """Postal address."""
    phone: str = ""
    """Phone number."""


@dataclass(frozen=True)
class CaseState:
    """A case as its log entries make it."""

    id: str
    """The case id (``case-0001``…)."""
    kind: str
    """The case kind (one of ``deadlines.CASE_KINDS``)."""
    precinct: str
    """The precinct it is about."""
    addressee: str
    """Who the complaint goes to: ``commission`` or ``court``."""
    event_date: date
    """The day of the decision or action complained of (the deadline counts from it)."""
    created: str
    """When it was opened (RFC 3339)."""
    title: str = ""
    """A short title."""
    respondent: str = ""
    """The commission complained of."""
    respondent_address: str = ""
    """The respondent's address."""
    addressee_name: str = ""
    """The higher commission or court addressed, by name."""
    facts: tuple[str, ...] = ()
    """The statement of facts, in paragraphs."""
    legal_grounds: tuple[str, ...] = ()
    """The legal grounds, in paragraphs."""
    relief: tuple[str, ...] = ()
    """The relief asked for, in paragraphs."""
    evidence: tuple[str, ...] = ()
    """The items attached, by SHA-256, in the order they were attached."""
    has_complainant: bool = False
    """True when the complainant's details were given (they are kept sealed)."""
    from_discrepancy: bool = False
    """True when it was opened from a discrepancy with the official results."""
    event_date_given: bool = True
    """False while the event date is the day the case was opened, taken for want of one (the
    deadline then counts from the wrong day: a court edition is not built so)."""
    history: tuple[int, ...] = field(default=(), compare=False)
    """Its custody entries."""

    def deadline(
        self,
        jurisdiction: deadlines.Jurisdiction,
        *,
        language: str = "ru",
        today: date | None = None,
    ) -> deadlines.Deadline:
        """The case's filing deadline under ``jurisdiction``, as of ``today``."""
        return deadlines.deadline_for_case(
            jurisdiction, self.kind, self.addressee, self.event_date, today=today, language=language
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "precinct": self.precinct,
            "addressee": self.addressee,
            "addressee_name": self.addressee_name,
            "event_date": self.event_date.isoformat(),
            "event_date_given": self.event_date_given,
            "created": self.created,
            "title": self.title,
            "respondent": self.respondent,
            "respondent_address": self.respondent_address,
            "facts": list(self.facts),
            "legal_grounds": list(self.legal_grounds),
            "relief": list(self.relief),
            "evidence": list(self.evidence),
            "has_complainant": self.has_complainant,
            "from_discrepancy": self.from_discrepancy,
            "history": list(self.history),
        }


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip())


def all_cases(index: Index) -> dict[str, CaseState]:
    """Every case, replayed from the log (through the index)."""
    cases: dict[str, CaseState] = {}
    for e in index.entries_by_events((events.CASE_NEW, events.CASE_EVIDENCE, events.CASE_SET)):
        cid = str(e.get("case"))
        if e["event"] == events.CASE_NEW:
            cases[cid] = CaseState(
                id=cid,
                kind=e["case_kind"],
                precinct=e["precinct"],
                addressee=e["addressee"],
                event_date=date.fromisoformat(e["event_date"]),
                created=e["time"],
                title=e.get("title", ""),
                from_discrepancy=bool(e.get("from_discrepancy")),
                event_date_given=bool(e.get("event_date_given", True)),
                history=(e["seq"],),
            )
            continue
        c = cases.get(cid)
        if c is None:
            continue
        hist = (*c.history, e["seq"])
        if e["event"] == events.CASE_EVIDENCE:
            if e["subject"] not in c.evidence:
                c = replace(c, evidence=(*c.evidence, e["subject"]))
        elif e.get("personal"):
            c = replace(c, has_complainant=True)
        else:
            name, value = e["field"], e["value"]
            if name in ("facts", "legal_grounds", "relief"):
                value = tuple(value)
            elif name == "event_date":
                value = date.fromisoformat(value)
                c = replace(c, event_date_given=True)
            c = replace(c, **{name: value})
        cases[cid] = replace(c, history=hist)
    return cases


def get_case(store: Store, case_id: str) -> CaseState:
    """The case ``case_id``; a usage error when there is none."""
    index = store.index
    index.catch_up()
    case = all_cases(index).get(case_id)
    if case is None:
        raise UsageError(f"no case {case_id!r}", fix="list cases with: dalel case list")
    return case


def new_case(
    store: Store,
    *,
    precinct: str,
    kind: str,
    addressee: str = "commission",
    event_date: date | None = None,
    title: str = "",
    evidence: tuple[str, ...] = (),
    from_discrepancy: bool = False,
    by: str | None = None,
) -> str:
    """Open a case; returns its id (``case-0001``, …). ``by``: who opened it, as the log
    names them (a workspace user's pseudonym); else the organisation."""
    jurisdiction = deadlines.load_jurisdiction()
    if kind not in deadlines.CASE_KINDS:
        raise UsageError(
            f"unknown case kind {kind!r}", fix="use one of: " + ", ".join(deadlines.CASE_KINDS)
        )
    if addressee not in deadlines.ADDRESSEES:
        raise UsageError(f"unknown addressee {addressee!r}", fix="use commission or court")
    jurisdiction.rule_for(kind, addressee)  # fails early if the file has no rule
    if event_date is not None:
        check_event_date(event_date)
    precinct = check_precinct(str(precinct))
    day = event_date or deadlines.today_in(jurisdiction.timezone)
    with store.writer() as w:
        n = sum(1 for _ in w.index.entries_by_event(events.CASE_NEW)) + 1
        cid = f"case-{n:04d}"
        w.append(
            {
                "event": events.CASE_NEW,
                "case": cid,
                "case_kind": kind,
                "precinct": str(precinct),
                "addressee": addressee,
                "event_date": day.isoformat(),
                "event_date_given": event_date is not None,
                "title": privacy.scrub(store.secret, title),
                "from_discrepancy": from_discrepancy,
                "actor": {"role": "legal-team", "id": by or store.config.org},
            }
        )
        for sha in evidence:
            _add_evidence(w, cid, sha, by)
    return cid


def _actor(by: str | None) -> dict[str, Any]:
    return {"actor": {"role": "legal-team", "id": by}} if by else {}


def _add_evidence(w: Writer, cid: str, sha: str, by: str | None = None) -> None:
    if w.index.item(sha) is None:
        raise UsageError(
            f"no item {sha[:16]}… in the store", fix="ingest the file first, or check the hash"
        )
    w.append({"event": events.CASE_EVIDENCE, "case": cid, "subject": sha, **_actor(by)})


def add_evidence(store: Store, case_id: str, shas: list[str], by: str | None = None) -> int:
    """Attach items to a case (an item already attached is not attached twice)."""
    attached = set(get_case(store, case_id).evidence)
    added = 0
    with store.writer() as w:
        for sha in shas:
            if sha not in attached:
                _add_evidence(w, case_id, sha, by)
                attached.add(sha)
                added += 1
    return added


def set_fields(
    store: Store,
    case_id: str,
    public: dict[str, str],
    personal: dict[str, str],
    by: str | None = None,
) -> None:
    """Set public fields (logged) and complainant fields (sealed, never logged)."""
    get_case(store, case_id)
    if "event_date" in public:
        public = {**public, "event_date": parse_event_date(public["event_date"]).isoformat()}
    for name, value in personal.items():
        if name == "iin" and value and not privacy.is_valid_iin(value.strip()):
            raise UsageError(
                "the complainant's IIN fails its check digit",
                fix="check the 12 digits and run the command again",
            )
    with store.writer() as w:
        for name, value in public.items():
            if name not in PUBLIC_FIELDS:
                raise UsageError(f"unknown case field {name!r}")
            v: Any = value
            if name in ("facts", "legal_grounds", "relief"):
                v = [privacy.scrub(store.secret, p) for p in _paragraphs(value)]
            elif name == "event_date":
                v = date.fromisoformat(value).isoformat()
            elif name == "addressee" and value not in deadlines.ADDRESSEES:
                raise UsageError("addressee must be commission or court")
            w.append(
                {
                    "event": events.CASE_SET,
                    "case": case_id,
                    "field": name,
                    "value": privacy.scrub(store.secret, v) if isinstance(v, str) else v,
                    **_actor(by),
                }
            )
        if personal:
            current = complainant(store, case_id) or Complainant()
            updated = replace(current, **{k: v.strip() for k, v in personal.items()})
            _write_complainant(store, case_id, updated)
            w.append(
                {
                    "event": events.CASE_SET,
                    "case": case_id,
                    "field": "complainant",
                    "personal": True,
                    "value": None,
                    "fields": sorted(personal),
                    **_actor(by),
                }
            )


def _complainant_path(store: Store, case_id: str) -> Path:
    d = store.root / "cases"
    d.mkdir(exist_ok=True)
    return d / f"{case_id}.complainant"


def _write_complainant(store: Store, case_id: str, c: Complainant) -> None:
    data = json.dumps(c.__dict__, ensure_ascii=False, sort_keys=True).encode()
    blob = vault.seal(vault.data_key(store.keys_dir), data, case_id.encode())
    atomic_write(_complainant_path(store, case_id), blob)


def complainant(store: Store, case_id: str) -> Complainant | None:
    """The complainant's details, decrypted; None when none were given."""
    path = _complainant_path(store, case_id)
    if not path.exists():
        return None
    data = vault.unseal(vault.data_key(store.keys_dir), path.read_bytes(), case_id.encode())
    return Complainant(**json.loads(data))


# --- what front ends call ------------------------------------------------------------------
@dataclass(frozen=True)
class CaseOpened:
    """A case just opened by :func:`open_case`."""

    id: str
    """The new case's id."""
    precinct: str
    """The precinct it is about."""
    kind: str
    """Its kind."""
    evidence: tuple[str, ...]
    """The items attached when it was opened (a discrepancy's protocol photos)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"id": …, "precinct": …, "kind": …, "evidence": […]}``."""
        return {
            "id": self.id,
            "precinct": self.precinct,
            "kind": self.kind,
            "evidence": list(self.evidence),
        }


def open_case(
    store: Store,
    *,
    precinct: str | None = None,
    kind: str | None = None,
    addressee: str = "commission",
    event_date: date | None = None,
    title: str = "",
    from_discrepancy: str | None = None,
    by: str | None = None,
) -> CaseOpened:
    """Open a case for ``precinct`` of ``kind``; or, with ``from_discrepancy`` (a precinct), a
    ``protocol-figures`` case (unless another ``kind`` is given) for that precinct with its
    protocol photos attached. A usage error when the precinct has no protocol readings, or
    when neither a precinct and kind nor a discrepancy is given."""
    evidence: tuple[str, ...] = ()
    if from_discrepancy:
        rows = official.discrepancies(store, precinct=from_discrepancy)
        if not rows:
            raise UsageError(
                f"no protocol readings for precinct {from_discrepancy}",
                fix=f"read its protocol photos: dalel ocr --precinct {from_discrepancy} (a photo "
                "not handed in as a protocol: dalel ocr --item SHA256)",
            )
        precinct, kind = from_discrepancy, kind or "protocol-figures"
        evidence = rows[0].items
    if not precinct or not kind:
        raise UsageError("give --precinct and --kind (or --from-discrepancy PRECINCT)")
    cid = new_case(
        store,
        precinct=precinct,
        kind=kind,
        addressee=addressee,
        event_date=event_date,
        title=title,
        evidence=evidence,
        from_discrepancy=bool(from_discrepancy),
        by=by,
    )
    return CaseOpened(cid, str(precinct), kind, evidence)


@dataclass(frozen=True)
class EvidenceAttached:
    """Items attached to a case by :func:`attach_evidence`."""

    case_id: str
    """The case."""
    added: int
    """Items attached now (those already attached are not attached twice)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"case": self.case_id, "added": self.added}


def attach_evidence(
    store: Store, case_id: str, items_given: Sequence[str], by: str | None = None
) -> EvidenceAttached:
    """Attach stored items, each given by its SHA-256 or a unique prefix, to a case."""
    shas = [items.resolve(store, i) for i in items_given]
    return EvidenceAttached(case_id, add_evidence(store, case_id, shas, by))


@dataclass(frozen=True)
class CaseDetails:
    """Details of a case to set; None leaves a detail as it is. The complainant's are sealed,
    never logged."""

    title: str | None = None
    """A short title."""
    respondent: str | None = None
    """The commission complained of."""
    respondent_address: str | None = None
    """The respondent's address."""
    addressee_name: str | None = None
    """The higher commission or court addressed, by name."""
    addressee: str | None = None
    """``commission`` or ``court``."""
    event_date: str | None = None
    """The day of the decision or action complained of (YYYY-MM-DD)."""
    facts: str | None = None
    """The statement of facts (paragraphs separated by a blank line)."""
    legal_grounds: str | None = None
    """The legal grounds (paragraphs separated by a blank line)."""
    relief: str | None = None
    """The relief asked for (paragraphs separated by a blank line)."""
    complainant_name: str | None = None
    """The complainant's full name."""
    complainant_iin: str | None = None
    """The complainant's IIN (its check digit is checked)."""
    complainant_address: str | None = None
    """The complainant's address."""
    complainant_phone: str | None = None
    """The complainant's phone number."""

    def public(self) -> dict[str, str]:
        """The details given that are logged, by field name, in the order above."""
        return {
            f.name: v
            for f in fields(self)
            if not f.name.startswith("complainant_") and (v := getattr(self, f.name)) is not None
        }

    def personal(self) -> dict[str, str]:
        """The complainant's details given, by field name (``name``, ``iin``…)."""
        return {
            f.name.removeprefix("complainant_"): v
            for f in fields(self)
            if f.name.startswith("complainant_") and (v := getattr(self, f.name)) is not None
        }


@dataclass(frozen=True)
class DetailsSet:
    """What :func:`set_details` set."""

    case_id: str
    """The case."""
    names: tuple[str, ...]
    """The details set, sorted (complainant details without their ``complainant_`` prefix)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"case": self.case_id, "set": list(self.names)}


def set_details(
    store: Store, case_id: str, details: CaseDetails, by: str | None = None
) -> DetailsSet:
    """Set a case's details: the public ones are logged, the complainant's sealed. A usage error
    when none is given, or when the complainant's IIN fails its check digit."""
    public, personal = details.public(), details.personal()
    if not public and not personal:
        raise UsageError("nothing to set", fix="see: dalel case set --help")
    set_fields(store, case_id, public, personal, by)
    return DetailsSet(case_id, tuple(sorted([*public, *personal])))


@dataclass(frozen=True)
class CaseView:
    """A case with its filing deadline."""

    case: CaseState
    """The case."""
    deadline: deadlines.Deadline
    """Its filing deadline as of today."""

    def to_dict(self) -> dict[str, Any]:
        """The case's JSON form with ``deadline``."""
        return {**self.case.to_dict(), "deadline": self.deadline.to_dict()}


def show_case(store: Store, case_id: str, *, language: str = "en") -> CaseView:
    """A case: its details, evidence and deadline (the rule's words in ``language``)."""
    case = get_case(store, case_id)
    return CaseView(case, case.deadline(deadlines.load_jurisdiction(), language=language))


@dataclass(frozen=True)
class CaseList:
    """Every case, in the order they were opened."""

    cases: tuple[CaseState, ...]
    """The cases."""

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list of cases."""
        return [c.to_dict() for c in self.cases]


def list_cases(store: Store) -> CaseList:
    """Every case."""
    index = store.index
    index.catch_up()
    return CaseList(tuple(all_cases(index).values()))


@dataclass(frozen=True)
class CaseDeadline:
    """One case's deadline, as the deadlines list shows it."""

    case: CaseState
    """The case."""
    deadline: deadlines.Deadline
    """Its filing deadline."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: case, kind, precinct and the deadline's fields."""
        return {
            "case": self.case.id,
            "kind": self.case.kind,
            "precinct": self.case.precinct,
            **self.deadline.to_dict(),
        }


@dataclass(frozen=True)
class DeadlineList:
    """Cases by urgency."""

    rows: tuple[CaseDeadline, ...]
    """Passed deadlines first, then the fewest days left."""

    def to_dict(self) -> list[dict[str, Any]]:
        """The JSON form: a list, most urgent first."""
        return [r.to_dict() for r in self.rows]


def by_urgency(store: Store, *, language: str = "en", today: date | None = None) -> DeadlineList:
    """Every case with its deadline, most urgent first (passed, then fewest days left)."""
    index = store.index
    index.catch_up()
    jurisdiction = deadlines.load_jurisdiction()
    cs = all_cases(index)
    ranked = deadlines.sort_by_urgency(
        [(cid, c.deadline(jurisdiction, language=language, today=today)) for cid, c in cs.items()]
    )
    return DeadlineList(tuple(CaseDeadline(cs[cid], dl) for cid, dl in ranked))
