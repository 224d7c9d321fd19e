"""Complaint cases: created, filled and given evidence through the custody log.

Every change to a case is a custody entry (``case-new``, ``case-evidence``, ``case-set``),
so a case's history is as auditable as its evidence. The complainant's personal data
(name, IIN, address, phone) never enters the log: it is sealed with AES-GCM under the
store's data key in ``cases/<id>.complainant``, and the log only records that it changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from app import deadlines
from base.errors import UsageError
from base.fsio import atomic_write
from evidence.content import privacy
from evidence.storage import vault
from evidence.storage.index import Index
from evidence.storage.store import Store

PUBLIC_FIELDS = ("title", "respondent", "respondent_address", "facts", "legal_grounds",
                 "relief", "event_date", "addressee", "addressee_name")
PERSONAL_FIELDS = ("name", "iin", "address", "phone")


@dataclass(frozen=True)
class Complainant:
    """The complainant's personal data (decrypted only when a dossier needs it)."""

    name: str = ""
    iin: str = ""
    address: str = ""
    phone: str = ""


@dataclass(frozen=True)
class CaseState:
    """A case as its log entries make it."""

    id: str
    kind: str
    precinct: str
    addressee: str
    event_date: date
    created: str
    title: str = ""
    respondent: str = ""
    respondent_address: str = ""
    addressee_name: str = ""
    facts: tuple[str, ...] = ()
    legal_grounds: tuple[str, ...] = ()
    relief: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    has_complainant: bool = False
    from_discrepancy: bool = False
    history: tuple[int, ...] = field(default=(), compare=False)

    def deadline(self, jurisdiction: deadlines.Jurisdiction, *, language: str = "ru",
                 today: date | None = None) -> deadlines.Deadline:
        return deadlines.deadline_for_case(jurisdiction, self.kind, self.addressee,
                                           self.event_date, today=today, language=language)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "precinct": self.precinct,
            "addressee": self.addressee, "addressee_name": self.addressee_name,
            "event_date": self.event_date.isoformat(), "created": self.created,
            "title": self.title, "respondent": self.respondent,
            "respondent_address": self.respondent_address, "facts": list(self.facts),
            "legal_grounds": list(self.legal_grounds), "relief": list(self.relief),
            "evidence": list(self.evidence), "has_complainant": self.has_complainant,
            "from_discrepancy": self.from_discrepancy, "history": list(self.history),
        }


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip())


def all_cases(index: Index) -> dict[str, CaseState]:
    """Every case, replayed from the log (through the index)."""
    cases: dict[str, CaseState] = {}
    for e in index.entries_by_events(("case-new", "case-evidence", "case-set")):
        cid = str(e.get("case"))
        if e["event"] == "case-new":
            cases[cid] = CaseState(
                id=cid, kind=e["case_kind"], precinct=e["precinct"], addressee=e["addressee"],
                event_date=date.fromisoformat(e["event_date"]), created=e["time"],
                title=e.get("title", ""), from_discrepancy=bool(e.get("from_discrepancy")),
                history=(e["seq"],))
            continue
        c = cases.get(cid)
        if c is None:
            continue
        hist = (*c.history, e["seq"])
        if e["event"] == "case-evidence":
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
            c = replace(c, **{name: value})
        cases[cid] = replace(c, history=hist)
    return cases


def get_case(store: Store, case_id: str) -> CaseState:
    index = Index(store)
    index.catch_up()
    case = all_cases(index).get(case_id)
    if case is None:
        raise UsageError(f"no case {case_id!r}", fix="list cases with: dalel case list")
    return case


def new_case(store: Store, *, precinct: str, kind: str, addressee: str = "commission",
             event_date: date | None = None, title: str = "",
             evidence: tuple[str, ...] = (), from_discrepancy: bool = False) -> str:
    """Open a case; returns its id (``case-0001``, …)."""
    jurisdiction = deadlines.load_jurisdiction()
    if kind not in deadlines.CASE_KINDS:
        raise UsageError(f"unknown case kind {kind!r}",
                         fix="use one of: " + ", ".join(deadlines.CASE_KINDS))
    if addressee not in deadlines.ADDRESSEES:
        raise UsageError(f"unknown addressee {addressee!r}", fix="use commission or court")
    jurisdiction.rule_for(kind, addressee)  # fails early if the file has no rule
    day = event_date or deadlines.today_in(jurisdiction.timezone)
    with store.writer() as w:
        n = sum(1 for _ in w.index.entries_by_event("case-new")) + 1
        cid = f"case-{n:04d}"
        w.append({"event": "case-new", "case": cid, "case_kind": kind, "precinct": str(precinct),
                  "addressee": addressee, "event_date": day.isoformat(),
                  "title": title, "from_discrepancy": from_discrepancy,
                  "actor": {"role": "legal-team", "id": store.config.org}})
        for sha in evidence:
            _add_evidence(w, cid, sha)
    return cid


def _add_evidence(w, cid: str, sha: str) -> None:
    if w.index.item(sha) is None:
        raise UsageError(f"no item {sha[:16]}… in the store",
                         fix="ingest the file first, or check the hash")
    w.append({"event": "case-evidence", "case": cid, "subject": sha})


def add_evidence(store: Store, case_id: str, shas: list[str]) -> int:
    """Attach items to a case (an item already attached is not attached twice)."""
    case = get_case(store, case_id)
    added = 0
    with store.writer() as w:
        for sha in shas:
            if sha not in case.evidence:
                _add_evidence(w, case_id, sha)
                added += 1
    return added


def set_fields(store: Store, case_id: str, public: dict[str, str],
               personal: dict[str, str]) -> None:
    """Set public fields (logged) and complainant fields (sealed, never logged)."""
    get_case(store, case_id)
    for name, value in personal.items():
        if name == "iin" and value and not privacy.is_valid_iin(value.strip()):
            raise UsageError("the complainant's IIN fails its check digit",
                             fix="check the 12 digits and run the command again")
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
            w.append({"event": "case-set", "case": case_id, "field": name,
                      "value": privacy.scrub(store.secret, v) if isinstance(v, str) else v})
        if personal:
            current = complainant(store, case_id) or Complainant()
            updated = replace(current, **{k: v.strip() for k, v in personal.items()})
            _write_complainant(store, case_id, updated)
            w.append({"event": "case-set", "case": case_id, "field": "complainant",
                      "personal": True, "value": None,
                      "fields": sorted(personal)})


def _complainant_path(store: Store, case_id: str):
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
