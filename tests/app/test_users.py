"""Workspace accounts: passwords kept as Argon2id hashes only, sessions, lock-out, and the
custody log naming users by pseudonym only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app import statedb, users
from base.errors import UsageError
from evidence.storage.store import Store


@pytest.fixture
def store(either_store: Store) -> Store:
    """A store whose accounts are in its folder, or in its PostgreSQL database."""
    return either_store


def _rows(store: Store, sql: str) -> list[tuple]:
    """What the accounts' tables hold, read straight from the database."""
    with users._db(store) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def _log(store: Store) -> list[dict]:
    return [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]


def test_add_prints_the_password_once_and_keeps_only_its_argon2_hash(store: Store) -> None:
    added = users.add(store, "Әлия Сейітқызы", "reviewer")
    assert added.user.role is users.Role.REVIEWER and len(added.password) >= 20
    db = store.root / users.DIR / users.DB
    if statedb.on_postgres(store):
        assert not db.exists()  # kept in the database, nothing on this machine's disk
    else:
        assert db.stat().st_mode & 0o077 == 0
        assert added.password.encode() not in db.read_bytes()
    ((hashed,),) = _rows(store, "SELECT hash FROM users")
    assert hashed.startswith("$argon2id$") and added.password not in hashed
    assert added.password not in repr(_rows(store, "SELECT * FROM users"))
    entry = _log(store)[-2] if _log(store)[-1]["event"] == "timestamp" else _log(store)[-1]
    assert entry["event"] == "user-add" and entry["user"] == added.user.pseudonym
    raw = store.log_path.read_text(encoding="utf-8")
    assert "Әлия" not in raw and added.password not in raw


def test_names_roles_and_duplicates_are_checked(store: Store) -> None:
    users.add(store, "anna", "lawyer")
    with pytest.raises(UsageError, match="already"):
        users.add(store, "anna", "reviewer")
    with pytest.raises(UsageError, match="not a role"):
        users.add(store, "bob", "admin")
    with pytest.raises(UsageError, match="IIN"):
        users.add(store, "870412300416", "reviewer")
    with pytest.raises(UsageError, match="not a user name"):
        users.add(store, "<script>", "reviewer")


def test_sign_in_gives_a_session_with_its_own_csrf_token(store: Store) -> None:
    added = users.add(store, "anna", "lawyer")
    a = users.sign_in(store, "anna", added.password)
    b = users.sign_in(store, "anna", added.password)
    assert a.token != b.token and a.session.csrf != b.session.csrf
    live = users.session(store, a.token)
    assert live is not None and live.user.name == "anna" and live.csrf == a.session.csrf
    assert users.session(store, "not-a-token") is None
    stored = _rows(store, "SELECT token_sha256 FROM sessions")
    assert a.token not in {r[0] for r in stored} and len(stored) == 2  # only its hash is kept
    assert users.sign_out(store, a.token) and users.session(store, a.token) is None
    assert users.session(store, b.token) is not None
    events = [e["event"] for e in _log(store)]
    assert events.count("user-sign-in") == 2 and events.count("user-sign-out") == 1


def test_wrong_passwords_lock_the_account_then_it_unlocks(store: Store) -> None:
    added = users.add(store, "anna", "coordinator")
    with pytest.raises(users.SignInRefused) as unknown:
        users.sign_in(store, "nobody", "x")
    assert unknown.value.reason == "WRONG_PASSWORD"
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.SignInRefused) as wrong:
            users.sign_in(store, "anna", "wrong")
        assert wrong.value.reason == "WRONG_PASSWORD"
    with pytest.raises(users.SignInRefused) as locked:
        users.sign_in(store, "anna", added.password)  # right, but locked
    assert locked.value.reason == "LOCKED" and locked.value.until
    assert any(e["event"] == "user-locked" for e in _log(store))
    later = users._now() + users.LOCK_FOR + timedelta(seconds=1)
    assert users.sign_in(store, "anna", added.password, now=later).session.user.name == "anna"


def test_sessions_end_when_idle_too_long_reset_or_disabled(store: Store) -> None:
    added = users.add(store, "anna", "reviewer")
    s = users.sign_in(store, "anna", added.password)
    idle = users._now() + users.SESSION_IDLE + timedelta(minutes=1)
    assert users.session(store, s.token, now=idle) is None
    s = users.sign_in(store, "anna", added.password)
    new = users.reset(store, "anna")
    assert users.session(store, s.token) is None
    with pytest.raises(users.SignInRefused):
        users.sign_in(store, "anna", added.password)
    s = users.sign_in(store, "anna", new.password)
    users.set_disabled(store, "anna", True)
    assert users.session(store, s.token) is None
    with pytest.raises(users.SignInRefused):
        users.sign_in(store, "anna", new.password)
    users.set_disabled(store, "anna", False)
    assert users.sign_in(store, "anna", new.password)


def test_cli_user_add_json_is_the_public_interface(store: Store, dalel) -> None:
    r = dalel("--store", store.root, "user", "add", "Нұрлан", "--role", "auditor", "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["name"] == "Нұрлан" and out["role"] == "auditor" and out["password"]
    assert users.sign_in(store, "Нұрлан", out["password"]).session.user.role.value == "auditor"
    listed = dalel("--store", store.root, "user", "list", "--json").json()
    assert listed[0]["name"] == "Нұрлан" and "password" not in listed[0]
    again = dalel("--store", store.root, "user", "add", "Нұрлан", "--role", "lawyer")
    assert again.code != 0 and "already" in again.err


def test_a_user_chooses_their_own_password_in_place_of_the_given_one(store: Store) -> None:
    added = users.add(store, "Марат", "lawyer")
    assert added.user.given_password and users.get(store, "Марат").given_password
    here = users.sign_in(store, "Марат", added.password)
    elsewhere = users.sign_in(store, "Марат", added.password)
    assert here.session.user.given_password

    for new, why in (("short", "WEAK_PASSWORD"), (added.password, "WEAK_PASSWORD"),
                     ("  марат  ", "WEAK_PASSWORD"), ("x" * 1025, "WEAK_PASSWORD")):  # fmt: skip
        with pytest.raises(users.PasswordRefused) as refused:
            users.change_password(store, here.token, added.password, new)
        assert refused.value.reason == why, new
    with pytest.raises(users.PasswordRefused) as refused:
        users.change_password(store, here.token, "not the password", "a long new password")
    assert refused.value.reason == "WRONG_PASSWORD"
    with pytest.raises(users.PasswordRefused) as refused:
        users.change_password(store, "no such token", added.password, "a long new password")
    assert refused.value.reason == "SIGN_IN_REQUIRED"

    user = users.change_password(store, here.token, added.password, "тау мен дала 2026")
    assert not user.given_password and not users.get(store, "Марат").given_password
    assert users.session(store, here.token) is not None  # this session goes on
    assert users.session(store, elsewhere.token) is None  # the others end
    with pytest.raises(users.SignInRefused):
        users.sign_in(store, "Марат", added.password)
    assert not users.sign_in(store, "Марат", "тау мен дала 2026").session.user.given_password
    entries = [e for e in _log(store) if e["event"] == "user-change"]
    assert entries[-1]["change"] == "password-chosen"
    assert entries[-1]["user"] == entries[-1]["actor"]["id"] == user.pseudonym
    raw = store.log_path.read_text(encoding="utf-8")
    assert "тау мен дала" not in raw and "Марат" not in raw
    # a reset gives a password someone else has seen again
    assert users.reset(store, "Марат").user.given_password


def test_guessing_the_current_password_in_a_session_locks_the_account_and_ends_it(
    store: Store,
) -> None:
    added = users.add(store, "anna", "reviewer")
    held = users.sign_in(store, "anna", added.password)
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.PasswordRefused) as refused:
            users.change_password(store, held.token, "guess", "a long new password")
        assert refused.value.reason == "WRONG_PASSWORD"
    assert users.session(store, held.token) is None
    assert [e for e in _log(store) if e["event"] == "user-locked"]
    with pytest.raises(users.SignInRefused) as locked:
        users.sign_in(store, "anna", added.password)
    assert locked.value.reason == "LOCKED"


def test_accounts_made_before_users_chose_their_passwords_still_sign_in(store: Store) -> None:
    added = users.add(store, "old", "auditor")
    with statedb.connect(store, store.root / users.DIR / users.DB, "") as con:
        con.execute("ALTER TABLE users DROP COLUMN given")
        assert "given" not in con.columns("users")
    signed = users.sign_in(store, "old", added.password)
    assert not signed.session.user.given_password
    with users._db(store) as con:
        assert "given" in con.columns("users")
