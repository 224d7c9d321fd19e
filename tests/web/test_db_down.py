"""A server whose store keeps its state in PostgreSQL, when that database is down: every
request that needs it is answered 503 with a plain message (try again later), never a 500
nor a stack trace; the details stay in the server's own log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from evidence.storage.store import Store
from tests.conftest import dalel_subprocess
from web.app import guarded


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Iterator[tuple[Store, str]]:
    """A national store, an observer's invite made on it, and then its PostgreSQL stopped."""
    from testing.postgres import PostgresServer

    root = tmp_path_factory.mktemp("db-down") / "store"
    with pytest.MonkeyPatch.context() as mp, PostgresServer.start() as pg:
        mp.setenv("PGPASSWORD", pg.password)
        url = pg.create_database()
        r = dalel_subprocess("--store", root, "init", "--org", "Coalition", "--db", url)
        assert r.returncode == 0, r.stderr
        made = dalel_subprocess(
            "--store", root, "observer", "invite", "--precinct", "12", "--json",
            "--qr", root.parent / "qr.png",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]
        store = Store.open(root)
        pg.stop()  # (another process made the invite: this one has no connection yet)
        yield store, token


def _plain(r) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "DATABASE_UNAVAILABLE"
    assert "try again" in body["message"]
    for internal in ("Traceback", "psycopg", 'File "', "OperationalError", "port "):
        assert internal not in r.text, r.text
    assert r.headers["retry-after"].isdigit()


@pytest.mark.timeout(120)
def test_the_phone_is_answered_503_when_the_database_is_down(stopped, caplog) -> None:
    store, token = stopped
    client = TestClient(guarded(store, batch_every=60), base_url="http://127.0.0.1")
    with caplog.at_level(logging.WARNING):
        r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    _plain(r)
    said = " ".join(rec.getMessage() for rec in caplog.records)
    assert "cannot reach the store's database" in said  # (the server's own log says why)


@pytest.mark.timeout(120)
def test_the_workspace_is_answered_503_when_the_database_is_down(stopped) -> None:
    store, _ = stopped
    client = TestClient(guarded(store, batch_every=60), base_url="http://127.0.0.1")
    _plain(client.post("/api/session", json={"name": "anna", "password": "x" * 20}))
    assert not list((store.root / "logs").glob("web-request-*.txt"))  # no traceback kept


def test_a_store_that_went_away_is_not_mistaken_for_a_bug(tmp_path: Path) -> None:
    """Only the database's own errors are 503: a bug is still a 500 with its traceback kept."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    from web.app import Guard, create_app

    assert dalel_subprocess("--store", tmp_path / "s", "init", "--org", "C").returncode == 0
    store = Store.open(tmp_path / "s")

    def broken(request):
        raise RuntimeError("a bug")

    app = create_app(store, batch_every=60)
    assert isinstance(app, Starlette)
    app.router.routes.insert(0, Route("/broken", broken))
    r = TestClient(Guard(app, store), base_url="http://127.0.0.1").get("/broken")
    assert r.status_code == 500 and "a bug" not in r.text
    assert list((store.root / "logs").glob("web-request-*.txt"))
