"""``dalel worker-role ROLE``: a reading worker on another machine connects as a PostgreSQL
role that can read the index, save readings and take jobs, and nothing else: not the
workspace's accounts, sessions and invites, not the index to change. Real PostgreSQL and
SeaweedFS, started by the tests."""

from __future__ import annotations

import json

import psycopg
import pytest

from app import observers
from evidence import audit
from evidence.provision import init_store
from evidence.storage.store import Store
from testing.seaweed import SeaweedServer
from tests.conftest import dalel_subprocess
from tests.pipeline.test_workers import _entries, _hand_in, _protocols, _worker


def test_a_reading_worker_as_its_own_role_reads_and_can_touch_nothing_else(
    postgres_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    database = url.rsplit("/", 1)[1]
    with SeaweedServer.start() as s3:
        for name, value in s3.environ().items():
            monkeypatch.setenv(name, value)
        store = tmp_path / "store"
        init_store(store, org="Coalition", db=url, objects="s3://dalel-role/p", retain_days=1)
        _hand_in(store, tmp_path / "protocols", range(2), seed=9)
        observers.invite(Store.open(store), "12")  # (the workspace's state has a table now)
        assert dalel_subprocess("--store", store, "ocr", "--queue").returncode == 0

        missing = dalel_subprocess("--store", store, "worker-role", "reader")
        assert missing.returncode == 2 and "CREATE ROLE reader" in missing.stderr
        with psycopg.connect(postgres_server.dsn(database), autocommit=True) as con:
            con.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-secret'")
        granted = dalel_subprocess("--store", store, "worker-role", "reader", "--json")
        assert granted.returncode == 0, granted.stderr
        assert json.loads(granted.stdout)["role"] == "reader"

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        config = (store / "config.toml").read_text()
        assert "://dalel@" in config
        (elsewhere / "config.toml").write_text(config.replace("://dalel@", "://reader@"))
        read = _worker(elsewhere, "--queues", "ocr", env={"PGPASSWORD": "reader-secret"})
        assert read.returncode == 0, read.stderr
        logged = _worker(store, "--queues", "log")
        assert logged.returncode == 0, logged.stderr
        assert {e["subject"] for e in _entries(store, "ocr")} == _protocols(store)
        assert audit.run(audit.StoreSource(Store.open(store))).ok

        as_reader = postgres_server.dsn(database)
        as_reader = as_reader.replace("user=dalel", "user=reader")
        as_reader = as_reader.replace(
            f"password={postgres_server.password}", "password=reader-secret"
        )
        with psycopg.connect(as_reader, autocommit=True) as con:
            assert con.execute("SELECT count(*) FROM entries").fetchone()[0] > 0
            for forbidden in (
                "SELECT body FROM dalel_workspace.documents",
                "UPDATE entries SET event = 'x'",
                "DELETE FROM items",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    con.execute(forbidden)
    postgres_server.drop_database(url)
