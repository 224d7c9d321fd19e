"""Deadlines as data: the bundled Kazakhstan rules, counting, zones, urgency."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.deadlines import (
    CASE_KINDS,
    LANGUAGES,
    Deadline,
    DeadlineRule,
    JurisdictionError,
    UnknownCaseKind,
    compute_deadline,
    deadline_for_case,
    fill_paragraphs,
    load_jurisdiction,
    parse_jurisdiction,
    sort_by_urgency,
    today_in,
)


def _rule(days: int = 10) -> DeadlineRule:
    return DeadlineRule(
        id="r",
        days=days,
        description={"ru": "d", "kk": "d", "en": "d"},
        citation={"ru": "c-ru", "kk": "c-kk", "en": "c-en"},
        counsel_must_confirm=True,
    )


def test_bundled_kazakhstan_file_covers_every_kind_addressee_and_language() -> None:
    kz = load_jurisdiction()
    assert kz.code == "kz"
    assert kz.timezone == "Asia/Almaty"
    assert set(kz.kinds) == set(CASE_KINDS)
    for kind in CASE_KINDS:
        text = kz.kind_text(kind)
        for lang in LANGUAGES:
            assert text.facts[lang] and text.legal_grounds[lang] and text.relief[lang]
        for addressee in ("commission", "court"):
            rule = kz.rule_for(kind, addressee)
            assert rule.days == 10
            assert rule.counsel_must_confirm is True
            assert all(rule.citation[lang] for lang in LANGUAGES)


def test_commission_complaint_is_ten_calendar_days_from_the_event() -> None:
    kz = load_jurisdiction()
    d = deadline_for_case(
        kz,
        "ballot-stuffing",
        "commission",
        date(2026, 11, 15),
        today=date(2026, 11, 21),
        language="en",
    )
    assert d.due == date(2026, 11, 25)
    assert d.days_left == 4
    assert not d.passed and not d.warning
    assert d.rule_id == "commission-complaint"
    assert "Elections" in d.citation
    assert d.counsel_must_confirm


@pytest.mark.parametrize(
    ("today", "left", "passed", "warning"),
    [
        (date(2026, 11, 21), 4, False, False),
        (date(2026, 11, 22), 3, False, True),
        (date(2026, 11, 25), 0, False, True),
        (date(2026, 11, 26), -1, True, False),
        (date(2026, 12, 31), -36, True, False),
    ],
)
def test_days_left_warning_and_passed(today: date, left: int, passed: bool, warning: bool) -> None:
    d = compute_deadline(_rule(), date(2026, 11, 15), today, warn_days=3)
    assert (d.days_left, d.passed, d.warning) == (left, passed, warning)


def test_today_is_taken_in_almaty_not_utc() -> None:
    late_evening_utc = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)
    assert today_in("Asia/Almaty", late_evening_utc) == date(2026, 11, 21)
    assert today_in("UTC", late_evening_utc) == date(2026, 11, 20)
    with pytest.raises(ValueError):
        today_in("Asia/Almaty", datetime(2026, 11, 20, 20, 30))


def test_citation_follows_the_language() -> None:
    d = compute_deadline(_rule(), date(2026, 1, 1), date(2026, 1, 2), language="kk")
    assert d.citation == "c-kk"


@given(
    event=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    offset=st.integers(min_value=-400, max_value=400),
    days=st.integers(min_value=0, max_value=60),
)
def test_deadline_arithmetic_is_consistent(event: date, offset: int, days: int) -> None:
    today = event + timedelta(days=offset)
    d = compute_deadline(_rule(days), event, today)
    assert d.due - event == timedelta(days=days)
    assert today + timedelta(days=d.days_left) == d.due
    assert d.passed == (today > d.due)
    assert not (d.passed and d.warning)


def test_unknown_kind_and_addressee_are_usage_errors() -> None:
    kz = load_jurisdiction()
    with pytest.raises(UnknownCaseKind) as err:
        kz.kind_text("vote-buying")
    assert err.value.exit_code == 2
    with pytest.raises(UnknownCaseKind):
        kz.rule_for("other", "prosecutor")


def _bundled() -> dict:
    return json.loads(resources.files("app").joinpath("jurisdictions/kz.json").read_bytes())


def test_edited_file_is_used_and_checked() -> None:
    doc = _bundled()
    doc["rules"]["court-appeal"]["days"] = 5
    kz = parse_jurisdiction(json.dumps(doc).encode())
    d = deadline_for_case(kz, "other", "court", date(2026, 11, 15), today=date(2026, 11, 16))
    assert d.due == date(2026, 11, 20)

    missing_kind = _bundled()
    del missing_kind["kinds"]["carousel-voting"]
    with pytest.raises(JurisdictionError, match="carousel-voting"):
        parse_jurisdiction(json.dumps(missing_kind).encode())

    missing_language = _bundled()
    del missing_language["rules"]["commission-complaint"]["citation"]["kk"]
    with pytest.raises(JurisdictionError, match=r"citation\.kk"):
        parse_jurisdiction(json.dumps(missing_language).encode())

    with pytest.raises(JurisdictionError):
        parse_jurisdiction(b"{not json")


def test_paragraph_placeholders_are_filled_and_unknown_ones_kept() -> None:
    out = fill_paragraphs(
        ("Участок № {precinct}, {event_date}; {nope}",),
        {"precinct": "12", "event_date": "15.11.2026"},
    )
    assert out == ("Участок № 12, 15.11.2026; {nope}",)


def test_urgency_order_puts_passed_first_then_fewest_days() -> None:
    base = date(2026, 11, 15)
    items = [
        ("c-late", compute_deadline(_rule(10), base, date(2026, 11, 20))),
        ("c-passed", compute_deadline(_rule(10), base, date(2026, 11, 27))),
        ("c-soon", compute_deadline(_rule(10), base, date(2026, 11, 24))),
    ]
    order = [case_id for case_id, _ in sort_by_urgency(items)]
    assert order == ["c-passed", "c-soon", "c-late"]
    assert isinstance(items[0][1], Deadline)
