"""Volunteers' sign-ups: personal data only in the workspace's 0600 file, the custody log naming
ids, precincts, shifts and pseudonyms only; the IIN a pseudonym at once; every refusal named;
approval an invite the phone accepts; and what the coverage board reads, fast."""

from __future__ import annotations

import json
import time

import pytest

from app import observers, signups, statedb, users
from evidence.content import privacy
from evidence.storage.store import Store

IIN = "870412300416"
NAME = "Әлия Сейітқызы Құрманғазықызы"
CONTACT = "+7 701 123 45 67"


@pytest.fixture
def store(either_store: Store) -> Store:
    """A store whose sign-ups are in its folder, or in its PostgreSQL database."""
    return either_store


def _rows(store: Store, sql: str) -> list[tuple]:
    """What the sign-ups' tables hold, read straight from the database."""
    with signups._db(store) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def _log(store: Store) -> list[dict]:
    """The log's entries, without the timestamps a hook may add after them."""
    entries = [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]
    return [e for e in entries if e["event"] != "timestamp"]


def _sign(store: Store, **fields) -> signups.Signup:
    given = {"precinct": "31", "shift": "day", "name": NAME, "contact": CONTACT, **fields}
    return signups.submit(store, **given)


def test_personal_data_live_in_a_0600_file_and_the_log_names_only_ids(store: Store) -> None:
    made = _sign(store, iin=IIN, ask_iin=True)
    assert made.status == "pending" and made.id.startswith("sgn-")
    db = store.root / signups.DIR / signups.DB
    if statedb.on_postgres(store):
        assert not db.exists()  # kept in the database, nothing on this machine's disk
    else:
        assert db.stat().st_mode & 0o777 == 0o600
        assert (store.root / signups.DIR).stat().st_mode & 0o077 == 0
    ((name, contact, observer),) = _rows(store, "SELECT name, contact, observer FROM signups")
    assert (name, contact) == (NAME, CONTACT)
    assert observer == privacy.pseudonym(store.secret, IIN)  # the same as the phone's give_iin
    entry = _log(store)[-1]
    assert entry["event"] == "signup"
    assert {k: entry[k] for k in ("signup", "precinct", "shift")} == {
        "signup": made.id, "precinct": "31", "shift": "day",
    }  # fmt: skip
    raw = store.log_path.read_text(encoding="utf-8")
    for secret in (NAME, "Әлия", CONTACT, "701 123", IIN, observer):
        assert secret not in raw, secret
    for path in store.root.rglob("*"):  # the IIN is kept nowhere, in no file of the store
        if path.is_file():
            assert IIN.encode() not in path.read_bytes(), path
    assert IIN not in repr(_rows(store, "SELECT * FROM signups"))  # nor in the database


def test_the_iin_is_asked_only_when_the_organisation_says_so(store: Store) -> None:
    assert signups.asks_iin(store) is False
    dropped = _sign(store, iin=IIN)  # not asked: dropped unread
    assert dropped.observer is None
    coordinator = users.add(store, "coord", "coordinator").user
    users.set_setting(store, signups.ASK_IIN, "on", by=coordinator)
    assert signups.asks_iin(store) is True
    with pytest.raises(signups.SignupRefused) as e:
        _sign(store, shift="count")
    assert e.value.reason is signups.Reason.IIN_REQUIRED
    with pytest.raises(signups.SignupRefused) as e:
        _sign(store, shift="count", iin="870412300417")  # wrong check digit
    assert e.value.reason is signups.Reason.IIN_INVALID
    made = _sign(store, shift="count", iin="8704 1230 0416")
    assert made.observer == privacy.pseudonym(store.secret, IIN)
    # approved, the invite already knows them: the phone does not ask for the IIN again,
    # and refuses it as given (no one can test guesses of it with the link)
    approved = signups.approve(store, made.id, by=coordinator.pseudonym)
    inv = observers.authenticate(store, approved.issued.token)
    assert inv is not None and inv.observer == made.observer
    with pytest.raises(observers.IinRefused) as given:
        observers.give_iin(store, inv.id, IIN)
    assert given.value.reason == "IIN_ALREADY_GIVEN"
    # one that gave none is asked on the phone, as before
    plain = signups.approve(store, dropped.id, by=coordinator.pseudonym)
    assert observers.authenticate(store, plain.issued.token).observer is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"precinct": IIN}, "BAD_PRECINCT"),
        ({"precinct": "<script>"}, "BAD_PRECINCT"),
        ({"precinct": 31}, "BAD_PRECINCT"),
        ({"shift": "night"}, "BAD_SHIFT"),
        ({"shift": None}, "BAD_SHIFT"),
        ({"name": ""}, "BAD_NAME"),
        ({"name": "   "}, "BAD_NAME"),
        ({"name": "x" * 101}, "BAD_NAME"),
        ({"name": "Әлия\x00"}, "BAD_NAME"),
        ({"name": "Әлия\u202e"}, "BAD_NAME"),
        ({"name": ["Әлия"]}, "BAD_NAME"),
        ({"contact": ""}, "BAD_CONTACT"),
        ({"contact": "+7"}, "BAD_CONTACT"),
        ({"contact": "7" * 101}, "BAD_CONTACT"),
        ({"contact": {"tg": "x"}}, "BAD_CONTACT"),
    ],
)
def test_every_bad_field_is_refused_by_name(store: Store, fields: dict, reason: str) -> None:
    with pytest.raises(signups.SignupRefused) as e:
        _sign(store, **fields)
    assert e.value.reason.value == reason
    assert signups.counts(store)["pending"] == 0


def test_a_registry_limits_the_precincts(store: Store) -> None:
    with pytest.raises(signups.SignupRefused) as e:
        _sign(store, precinct="99", known={"31", "32"})
    assert e.value.reason is signups.Reason.UNKNOWN_PRECINCT
    assert _sign(store, precinct="32", known={"31", "32"}).precinct == "32"


def test_the_same_contact_cannot_flood(store: Store, monkeypatch) -> None:
    _sign(store)
    for same in ("87011234567", "+7(701)123-45-67", "+7 701 123 45 67 "):
        with pytest.raises(signups.SignupRefused) as e:
            _sign(store, contact=same)
        assert e.value.reason is signups.Reason.DUPLICATE
    for shift in ("morning", "evening", "count"):
        _sign(store, shift=shift)
    with pytest.raises(signups.SignupRefused) as e:  # four waiting from one contact
        _sign(store, precinct="32")
    assert e.value.reason is signups.Reason.CONTACT_LIMIT
    monkeypatch.setattr(signups, "MAX_PENDING", 5)
    _sign(store, contact="@aliya_tg")
    with pytest.raises(signups.SignupRefused) as e:
        _sign(store, contact="@marat")
    assert e.value.reason is signups.Reason.FULL
    assert signups.counts(store) == {"pending": 5, "approved": 0, "declined": 0}


def test_approval_makes_an_invite_the_phone_accepts(store: Store) -> None:
    coordinator = users.add(store, "coord", "coordinator").user
    made = _sign(store, precinct="31", shift="evening")
    done = signups.approve(store, made.id, by=coordinator.pseudonym)
    assert done.signup.status == "approved" and done.signup.invite == done.issued.invite.id
    assert done.issued.url == f"{observers.public_url(store)}/o/#{done.issued.token}"
    inv = observers.authenticate(store, done.issued.token)
    assert inv is not None and inv.precinct == "31" and inv.name == NAME
    entry = _log(store)[-1]
    assert entry["event"] == "signup-approve" and entry["signup"] == made.id
    assert entry["invite"] == inv.id and entry["actor"]["id"] == coordinator.pseudonym
    with pytest.raises(signups.SignupRefused) as e:
        signups.approve(store, made.id, by=coordinator.pseudonym)
    assert e.value.reason is signups.Reason.ALREADY_DECIDED
    with pytest.raises(signups.SignupRefused) as e:
        signups.decline(store, made.id, by=coordinator.pseudonym)
    assert e.value.reason is signups.Reason.ALREADY_DECIDED
    with pytest.raises(signups.SignupRefused) as e:
        signups.approve(store, "sgn-000000000000", by=coordinator.pseudonym)
    assert e.value.reason is signups.Reason.NOT_FOUND
    raw = store.log_path.read_text(encoding="utf-8")
    assert NAME not in raw and CONTACT not in raw and "coord" not in raw.replace("coordinator", "")


def test_decline_is_logged_and_makes_no_invite(store: Store) -> None:
    made = _sign(store)
    done = signups.decline(store, made.id, by="usr-0123456789abcdef0123")
    assert done.status == "declined" and done.invite is None
    entry = _log(store)[-1]
    assert entry["event"] == "signup-decline" and entry["signup"] == made.id
    assert entry["actor"]["id"] == "usr-0123456789abcdef0123"
    assert observers.invites(store) == []
    with pytest.raises(signups.SignupRefused) as e:  # declined stays declined; no retry flood
        _sign(store)
    assert e.value.reason is signups.Reason.DUPLICATE


def test_approved_shifts_and_counts_for_the_coverage_board(store: Store) -> None:
    assert signups.approved_shifts(store) == {}
    assert signups.counts(store) == {"pending": 0, "approved": 0, "declined": 0}
    a = _sign(store, precinct="31", shift="day")
    b = _sign(store, precinct="31", shift="count", contact="@bolat")
    c = _sign(store, precinct="31", shift="count", contact="@chingiz")
    d = _sign(store, precinct="32", shift="morning", contact="@dana")
    _sign(store, precinct="33", shift="evening", contact="@erlan")
    for s in (a, b, c):
        signups.approve(store, s.id, by="usr-x")
    signups.decline(store, d.id, by="usr-x")
    assert signups.approved_shifts(store) == {"31": frozenset({"day", "count"})}
    assert signups.counts(store) == {"pending": 1, "approved": 3, "declined": 1}
    listed = signups.signups(store)
    assert [s.status for s in listed] == ["pending", "approved", "approved", "approved", "declined"]


def test_the_board_reads_20000_signups_in_well_under_100_ms(store: Store) -> None:
    signups.link(store)  # makes the file
    shifts = signups.SHIFTS
    rows = [
        (f"sgn-{n:012x}", str(1 + n % 10000), shifts[n % 4], "n", "c", f"c{n}", None,
         ("pending", "approved", "declined")[n % 3], "2026-01-01T00:00:00Z")
        for n in range(20000)
    ]  # fmt: skip
    with signups._db(store) as con:
        con.executemany(
            "INSERT INTO signups(id, precinct, shift, name, contact, contact_key, observer, "
            "status, created) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )
    took = []
    for _ in range(3):
        t0 = time.perf_counter()
        shifts_by_precinct = signups.approved_shifts(store)
        counted = signups.counts(store)
        took.append(time.perf_counter() - t0)
    assert counted == {"pending": 6667, "approved": 6667, "declined": 6666}
    assert len(shifts_by_precinct) == len({r[1] for r in rows if r[7] == "approved"})
    assert all(s <= set(shifts) for s in shifts_by_precinct.values())
    assert min(took) < 0.05, took


def test_the_link_is_kept_as_a_hash_and_a_new_one_ends_the_old(store: Store) -> None:
    first = signups.link(store)
    assert first.url == f"{observers.public_url(store)}/s/{first.token}"
    assert signups.link(store).token == first.token  # shown again, the same
    assert signups.check_token(store, first.token)
    assert not signups.check_token(store, first.token + "x")
    assert not signups.check_token(store, "")
    if not statedb.on_postgres(store):
        db = (store.root / signups.DIR / signups.DB).read_bytes()
        assert first.token.encode() not in db
    assert first.token not in repr(_rows(store, "SELECT * FROM link"))
    second = signups.link(store, new=True, by="usr-x")
    assert second.token != first.token
    assert signups.check_token(store, second.token) and not signups.check_token(store, first.token)
    changes = [e.get("change") for e in _log(store) if e["event"] == "user-change"]
    assert changes == ["signup-link", "signup-link-new"]
