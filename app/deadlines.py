"""Filing deadlines and per-kind paragraphs, as data from a jurisdiction file.

The jurisdiction file (``app/jurisdictions/kz.json`` by default) is edited by the
legal team: each rule has a number of calendar days, a legal citation in every language
and a ``counsel_must_confirm`` flag; each case kind names the rule that applies per
addressee and carries paragraphs of facts, legal grounds and relief.

Everything here is pure: dates in, dates out. "Today" is taken in the jurisdiction's
time zone (Asia/Almaty for Kazakhstan) only by :func:`today_in`, at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from base.errors import BrokenEnvironment, UsageError

CASE_KINDS: tuple[str, ...] = (
    "protocol-figures",
    "observer-obstruction",
    "ballot-stuffing",
    "protocol-not-issued",
    "carousel-voting",
    "voter-pressure",
    "list-irregularity",
    "other",
)
"""Every case kind a dossier can be built for, in the order they are listed to users."""

ADDRESSEES: tuple[str, ...] = ("commission", "court")
"""Who a complaint is addressed to: the higher election commission or a court."""

LANGUAGES: tuple[str, ...] = ("ru", "kk", "en")
"""Languages every user-facing text of the jurisdiction file must be given in."""


class JurisdictionError(BrokenEnvironment, ValueError):
    """The jurisdiction file is missing, malformed or incomplete (exit code 4)."""


class UnknownCaseKind(UsageError, ValueError):
    """A case kind or addressee that the jurisdiction file does not know (exit code 2)."""


@dataclass(frozen=True)
class DeadlineRule:
    """One filing rule, e.g. "10 calendar days from the commission's decision"."""

    id: str
    """Stable key of the rule in the jurisdiction file."""
    days: int
    """Number of calendar days after the event within which to file."""
    description: Mapping[str, str]
    """The rule in words, per language."""
    citation: Mapping[str, str]
    """The legal source of the rule, per language."""
    counsel_must_confirm: bool
    """True until a lawyer has confirmed the rule; shown on every dossier."""


@dataclass(frozen=True)
class KindText:
    """What the jurisdiction file says for one case kind."""

    kind: str
    """The case kind (one of :data:`CASE_KINDS`)."""
    rules: Mapping[str, str]
    """Rule id per addressee (``commission`` / ``court``)."""
    facts: Mapping[str, tuple[str, ...]]
    """Paragraphs of the statement of facts, per language, with placeholders."""
    legal_grounds: Mapping[str, tuple[str, ...]]
    """Paragraphs of legal grounds, per language."""
    relief: Mapping[str, tuple[str, ...]]
    """Items of requested relief, per language."""


@dataclass(frozen=True)
class Jurisdiction:
    """A parsed jurisdiction file."""

    code: str
    """Short code, e.g. ``kz``."""
    timezone: str
    """IANA zone in which deadlines are counted, e.g. ``Asia/Almaty``."""
    warn_days: int
    """Warn when this many days or fewer are left."""
    rules: Mapping[str, DeadlineRule]
    """Rules by id."""
    kinds: Mapping[str, KindText]
    """Texts by case kind."""

    def rule_for(self, kind: str, addressee: str) -> DeadlineRule:
        """The rule that applies to a case of ``kind`` addressed to ``addressee``."""
        text = self.kind_text(kind)
        if addressee not in text.rules:
            raise UnknownCaseKind(f"no deadline rule for {kind!r} addressed to {addressee!r}")
        return self.rules[text.rules[addressee]]

    def kind_text(self, kind: str) -> KindText:
        """Paragraphs for ``kind``; raises :class:`UnknownCaseKind` for an unknown kind."""
        if kind not in self.kinds:
            known = ", ".join(sorted(self.kinds))
            raise UnknownCaseKind(f"unknown case kind {kind!r}; known kinds: {known}")
        return self.kinds[kind]


@dataclass(frozen=True)
class Deadline:
    """A case's filing deadline as of a given day."""

    due: date
    """Last day to file (inclusive), in the jurisdiction's time zone."""
    days_left: int
    """Days from ``today`` to ``due``; 0 on the last day, negative once passed."""
    passed: bool
    """True when ``today`` is after ``due``."""
    warning: bool
    """True when not passed and ``days_left`` is at most the jurisdiction's warn_days."""
    rule_id: str
    """Id of the rule applied."""
    citation: str
    """Legal citation of the rule, in the requested language."""
    description: str
    """The rule in words, in the requested language."""
    counsel_must_confirm: bool
    """Copied from the rule: counsel must confirm the rule before filing."""
    today: date
    """The day the deadline was computed for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: due, days_left, passed, warning, rule, citation,
        counsel_must_confirm."""
        return {
            "due": self.due.isoformat(),
            "days_left": self.days_left,
            "passed": self.passed,
            "warning": self.warning,
            "rule": self.rule_id,
            "citation": self.citation,
            "counsel_must_confirm": self.counsel_must_confirm,
        }


def _texts(obj: object, where: str) -> dict[str, str]:
    """One non-empty text per language."""
    if not isinstance(obj, dict):
        raise JurisdictionError(f"{where}: expected an object with ru, kk, en")
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        value = obj.get(lang)
        if not isinstance(value, str) or not value:
            raise JurisdictionError(f"{where}.{lang}: expected a text")
        out[lang] = value
    return out


def _paragraphs(obj: object, where: str) -> dict[str, tuple[str, ...]]:
    """A list of paragraphs per language."""
    if not isinstance(obj, dict):
        raise JurisdictionError(f"{where}: expected an object with ru, kk, en")
    out: dict[str, tuple[str, ...]] = {}
    for lang in LANGUAGES:
        value = obj.get(lang)
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise JurisdictionError(f"{where}.{lang}: expected a list of paragraphs")
        out[lang] = tuple(value)
    return out


def parse_jurisdiction(data: bytes) -> Jurisdiction:
    """Parse and check a jurisdiction file's bytes; raises :class:`JurisdictionError`."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JurisdictionError(f"jurisdiction file is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != "dalel-jurisdiction/1":
        raise JurisdictionError("jurisdiction file: format must be dalel-jurisdiction/1")
    try:
        ZoneInfo(str(doc.get("timezone")))
    except (KeyError, ValueError) as exc:
        zone = doc.get("timezone")
        raise JurisdictionError(f"jurisdiction file: unknown timezone {zone!r}") from exc
    rules: dict[str, DeadlineRule] = {}
    for rule_id, raw in (doc.get("rules") or {}).items():
        days = raw.get("days")
        if not isinstance(days, int) or days < 0 or raw.get("counting") != "calendar":
            raise JurisdictionError(f"rules.{rule_id}: days must be a count of calendar days")
        rules[rule_id] = DeadlineRule(
            id=rule_id,
            days=days,
            description=_texts(raw.get("description"), f"rules.{rule_id}.description"),
            citation=_texts(raw.get("citation"), f"rules.{rule_id}.citation"),
            counsel_must_confirm=bool(raw.get("counsel_must_confirm", True)),
        )
    kinds: dict[str, KindText] = {}
    raw_kinds = doc.get("kinds") or {}
    for kind in CASE_KINDS:
        raw = raw_kinds.get(kind)
        if not isinstance(raw, dict):
            raise JurisdictionError(f"kinds.{kind}: missing")
        kind_rules = raw.get("rules") or {}
        for addressee in ADDRESSEES:
            if kind_rules.get(addressee) not in rules:
                raise JurisdictionError(f"kinds.{kind}.rules.{addressee}: unknown rule")
        kinds[kind] = KindText(
            kind=kind,
            rules=dict(kind_rules),
            facts=_paragraphs(raw.get("facts"), f"kinds.{kind}.facts"),
            legal_grounds=_paragraphs(raw.get("legal_grounds"), f"kinds.{kind}.legal_grounds"),
            relief=_paragraphs(raw.get("relief"), f"kinds.{kind}.relief"),
        )
    warn_days = doc.get("warn_days", 3)
    if not isinstance(warn_days, int) or warn_days < 0:
        raise JurisdictionError("warn_days must be a non-negative integer")
    return Jurisdiction(
        code=str(doc.get("code")),
        timezone=str(doc["timezone"]),
        warn_days=warn_days,
        rules=rules,
        kinds=kinds,
    )


def load_jurisdiction(path: Path | None = None, code: str = "kz") -> Jurisdiction:
    """Read a jurisdiction file: ``path`` if given, else bundled ``jurisdictions/<code>.json``."""
    try:
        if path is not None:
            data = Path(path).read_bytes()
        else:
            data = resources.files("app").joinpath(f"jurisdictions/{code}.json").read_bytes()
    except OSError as exc:
        raise JurisdictionError(f"cannot read jurisdiction file: {exc}") from exc
    return parse_jurisdiction(data)


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The current date in ``timezone`` (``now`` may be given, timezone-aware, for tests)."""
    moment = now if now is not None else datetime.now(tz=ZoneInfo("UTC"))
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()


def compute_deadline(
    rule: DeadlineRule, event_date: date, today: date, *, warn_days: int = 3, language: str = "ru"
) -> Deadline:
    """The deadline of ``rule`` for an event on ``event_date``, as seen on ``today``.

    Calendar days: the last day to file is ``event_date + rule.days`` (the day of the
    event is not counted).
    """
    try:
        due = event_date + timedelta(days=rule.days)
    except OverflowError:  # an event date at the calendar's end (logged by an older version)
        due = date.max if rule.days > 0 else date.min
    days_left = (due - today).days
    passed = days_left < 0
    lang = language if language in rule.citation else "ru"
    return Deadline(
        due=due,
        days_left=days_left,
        passed=passed,
        warning=(not passed) and days_left <= warn_days,
        rule_id=rule.id,
        citation=rule.citation[lang],
        description=rule.description[lang],
        counsel_must_confirm=rule.counsel_must_confirm,
        today=today,
    )


def deadline_for_case(
    jurisdiction: Jurisdiction,
    kind: str,
    addressee: str,
    event_date: date,
    *,
    today: date | None = None,
    language: str = "ru",
) -> Deadline:
    """The deadline of a case of ``kind`` addressed to ``addressee``; today in the zone if None."""
    rule = jurisdiction.rule_for(kind, addressee)
    day = today if today is not None else today_in(jurisdiction.timezone)
    return compute_deadline(
        rule, event_date, day, warn_days=jurisdiction.warn_days, language=language
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_paragraphs(paragraphs: tuple[str, ...], values: Mapping[str, str]) -> tuple[str, ...]:
    """Replace ``{placeholders}`` in paragraphs; unknown placeholders are left as written."""
    mapping = _Blank(values)
    return tuple(p.format_map(mapping) for p in paragraphs)


def sort_by_urgency(items: list[tuple[str, Deadline]]) -> list[tuple[str, Deadline]]:
    """Order (case id, deadline) pairs: passed first, then fewest days left, then id."""
    return sorted(items, key=lambda item: (not item[1].passed, item[1].days_left, item[0]))
