"""Two web servers of a coalition (here: two stores opened on the same folder or database,
each in its own thread, without the process lock they would not share) acting on the same
workspace state at once: a sign-up is decided once, and every wrong password is counted."""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from typing import Any

import pytest

from app import observers, signups, users
from evidence.storage.store import Store


def _entries(store: Store) -> list[dict[str, Any]]:
    return [json.loads(line)["entry"] for line in store.log_path.read_text().splitlines()]


def _run(target: Any) -> tuple[threading.Thread, list[Any]]:
    """``target()`` in a thread; what it returned or raised, in the list when it ends."""
    out: list[Any] = []

    def go() -> None:
        try:
            out.append(target())
        except Exception as e:  # (what the other server's request would answer)
            out.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def test_a_signup_decided_by_two_servers_at_once_is_decided_once(
    either_store: Store, monkeypatch
) -> None:
    root = either_store.root
    one, other = Store.open(root), Store.open(root)
    made = signups.submit(one, precinct="31", shift="day", name="Anna", contact="+77011234567")
    monkeypatch.setattr(signups, "_lock", nullcontext())  # two processes: no shared lock
    real_invite = observers.invite
    raced: list[Any] = []

    def invite_while_the_other_declines(*args: Any, **kw: Any) -> observers.Issued:
        # the other server declines in the middle of this one's approval
        thread, out = _run(lambda: signups.decline(other, made.id, by="usr-other"))
        thread.join(timeout=3)  # (done at once without the fix; waits for this one with it)
        raced.append((thread, out))
        return real_invite(*args, **kw)

    monkeypatch.setattr(observers, "invite", invite_while_the_other_declines)
    approved = signups.approve(one, made.id, by="usr-one")
    ((thread, out),) = raced
    thread.join(timeout=60)
    assert not thread.is_alive()
    (lost,) = out
    assert isinstance(lost, signups.SignupRefused), lost
    assert lost.reason is signups.Reason.ALREADY_DECIDED
    assert "already decided" in str(lost) and "approved" in str(lost)
    assert approved.signup.status == "approved"
    final = signups.get(other, made.id)
    assert final.status == "approved" and final.invite == approved.issued.invite.id
    assert final.decided_by == "usr-one"
    decisions = [
        e["event"] for e in _entries(one) if e["event"] in ("signup-approve", "signup-decline")
    ]
    assert decisions == ["signup-approve"]


def test_the_loser_of_a_race_makes_no_invite_and_logs_nothing(
    either_store: Store, monkeypatch
) -> None:
    """Two approvals at once: one invite, one approval in the log."""
    root = either_store.root
    one, other = Store.open(root), Store.open(root)
    made = signups.submit(one, precinct="12", shift="count", name="Bek", contact="@bek_kz")
    monkeypatch.setattr(signups, "_lock", nullcontext())
    real_invite = observers.invite
    raced: list[Any] = []

    def invite_while_the_other_approves(*args: Any, **kw: Any) -> observers.Issued:
        if not raced:  # (the other's own invite, if it gets that far, goes straight through)
            thread, out = _run(lambda: signups.approve(other, made.id, by="usr-other"))
            raced.append((thread, out))
            thread.join(timeout=3)
        return real_invite(*args, **kw)

    monkeypatch.setattr(observers, "invite", invite_while_the_other_approves)
    won = signups.approve(one, made.id, by="usr-one")
    ((thread, out),) = raced
    thread.join(timeout=60)
    (lost,) = out
    assert isinstance(lost, signups.SignupRefused), lost
    assert lost.reason is signups.Reason.ALREADY_DECIDED
    assert [i.id for i in observers.invites(one)] == [won.issued.invite.id]
    approvals = [e for e in _entries(one) if e["event"] == "signup-approve"]
    assert [e["actor"]["id"] for e in approvals] == ["usr-one"]


def _hasher_meeting_at(barrier: threading.Barrier) -> Any:
    """Argon2 as the accounts use it, whose checks all wait for each other: every sign-in
    has read the account before any counts its failure (the widest race there is)."""
    real = users._hasher

    def make() -> Any:
        hasher = real()

        class Meeting:
            def verify(self, hashed: str, password: str) -> bool:
                barrier.wait(timeout=60)
                return bool(hasher.verify(hashed, password))

            def hash(self, password: str) -> str:
                return str(hasher.hash(password))

        return Meeting()

    return make


def test_wrong_passwords_at_once_on_two_servers_are_all_counted(
    either_store: Store, monkeypatch
) -> None:
    root = either_store.root
    users.add(either_store, "anna", "lawyer")
    servers = [Store.open(root), Store.open(root)]
    n = users.MAX_FAILURES - 1
    monkeypatch.setattr(users, "_hasher", _hasher_meeting_at(threading.Barrier(n)))
    runs = [
        _run(lambda s=servers[i % 2]: users.sign_in(s, "anna", "not-her-password"))
        for i in range(n)
    ]
    for thread, _ in runs:
        thread.join(timeout=120)
    outcomes = [out[0] for _, out in runs]
    assert all(isinstance(o, users.SignInRefused) and o.reason == "WRONG_PASSWORD"
               for o in outcomes), outcomes  # fmt: skip
    with users._db(either_store) as con:
        ((failures, locked_until),) = con.execute(
            "SELECT failures, locked_until FROM users WHERE name='anna'"
        ).fetchall()
    assert (failures, locked_until) == (n, None)


def test_the_failure_that_reaches_the_limit_locks_once_whichever_server_counts_it(
    either_store: Store, monkeypatch
) -> None:
    root = either_store.root
    users.add(either_store, "anna", "lawyer")
    servers = [Store.open(root), Store.open(root)]
    n = users.MAX_FAILURES
    monkeypatch.setattr(users, "_hasher", _hasher_meeting_at(threading.Barrier(n)))
    runs = [
        _run(lambda s=servers[i % 2]: users.sign_in(s, "anna", "not-her-password"))
        for i in range(n)
    ]
    for thread, _ in runs:
        thread.join(timeout=120)
    assert all(isinstance(out[0], users.SignInRefused) for _, out in runs)
    locks = [e for e in _entries(either_store) if e["event"] == "user-locked"]
    assert len(locks) == 1
    with pytest.raises(users.SignInRefused) as e:  # (refused before any password is checked)
        users.sign_in(servers[0], "anna", "not-her-password")
    assert e.value.reason == "LOCKED"
