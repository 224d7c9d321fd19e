"""The workspace's state of a store whose index is in PostgreSQL lives in that database, so
that several servers on several machines share it: an invite made by one is accepted by
another, and a revocation, a new account or an ended session made anywhere counts at once.
Each "other server" here is another process (the CLI), as it would be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import observers, signups, users
from evidence.storage.store import Store
from tests.conftest import dalel_subprocess


@pytest.fixture
def national(postgres_server, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    root = tmp_path / "store"
    r = dalel_subprocess("--store", root, "init", "--org", "Coalition", "--db", url)
    assert r.returncode == 0, r.stderr
    yield root
    postgres_server.drop_database(url)


def test_invites_made_and_revoked_by_one_server_count_at_once_on_another(national, tmp_path):
    made = dalel_subprocess(
        "--store", national, "observer", "invite", "--precinct", "12", "--json",
        "--qr", tmp_path / "qr.png",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    issued = json.loads(made.stdout)
    store = Store.open(national)
    found = observers.authenticate(store, issued["token"])
    assert found is not None and found.id == issued["id"]  # the other server's invite
    assert not (national / observers.INVITES_DIR / observers.INVITES_FILE).exists()
    gone = dalel_subprocess("--store", national, "observer", "revoke", issued["id"])
    assert gone.returncode == 0, gone.stderr
    assert observers.authenticate(store, issued["token"]) is None  # seen at once
    listed = dalel_subprocess("--store", national, "observer", "list", "--json")
    assert [bool(i["revoked"]) for i in json.loads(listed.stdout)] == [True]


def test_accounts_and_sessions_are_shared_by_every_server(national):
    added = dalel_subprocess(
        "--store", national, "user", "add", "anna", "--role", "lawyer", "--json"
    )
    assert added.returncode == 0, added.stderr
    password = json.loads(added.stdout)["password"]
    store = Store.open(national)
    signed = users.sign_in(store, "anna", password)  # here, with the other's account
    assert users.session(Store.open(national), signed.token) is not None  # any server
    off = dalel_subprocess("--store", national, "user", "disable", "anna")
    assert off.returncode == 0, off.stderr
    assert users.session(store, signed.token) is None  # its sessions ended everywhere
    assert not (national / users.DIR / users.DB).exists()
    assert not (national / signups.DIR / signups.DB).exists()


def test_a_database_that_went_away_is_said_plainly(tmp_path, monkeypatch):
    """The server stopped under a national store: each command says so in one line and
    leaves with exit 4 (the environment), never a traceback nor exit 70."""
    from testing.postgres import PostgresServer

    root = tmp_path / "store"
    with PostgresServer.start() as pg:
        monkeypatch.setenv("PGPASSWORD", pg.password)
        url = pg.create_database()
        r = dalel_subprocess("--store", root, "init", "--org", "Coalition", "--db", url)
        assert r.returncode == 0, r.stderr
    for command in (
        ("jobs",),
        ("worker", "--until-done"),
        ("ocr", "--queue"),
        ("user", "list"),
        ("observer", "list"),
        ("signup", "link"),
    ):
        r = dalel_subprocess("--store", root, *command, timeout=120)
        assert r.returncode == 4, (command, r.returncode, r.stderr)
        assert "cannot reach the store's database" in r.stderr, (command, r.stderr)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
