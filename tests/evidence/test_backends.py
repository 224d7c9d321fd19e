"""`dalel init --db`: the index in PostgreSQL (a real server), and every wrong URL refused
before anything is made, in plain words."""

from __future__ import annotations

import pytest

from evidence.storage import backends
from evidence.storage.store import Store
from tests.conftest import lose_index


def test_init_with_db_keeps_the_index_there_and_no_password_in_the_config(
    postgres_server, tmp_path, dalel, monkeypatch
):
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    url = postgres_server.create_database()
    r = dalel("--store", tmp_path / "s", "init", "--org", "National", "--db", url)
    assert r.code == 0, r.err
    config = (tmp_path / "s" / "config.toml").read_text()
    assert "postgresql+psycopg://dalel@127.0.0.1" in config
    assert postgres_server.password not in config
    store = Store.open(tmp_path / "s")
    assert store.index.engine.dialect.name == "postgresql"
    assert not (tmp_path / "s" / "index.sqlite").exists()
    # a second store cannot share the database: one database, one index
    r = dalel("--store", tmp_path / "t", "init", "--db", url)
    assert r.code == 2 and "already holds a Dalel index" in r.err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://u@h/db", "is not a PostgreSQL URL"),
        ("postgresql://u:secret@h:5432/db", "holds a password"),
        ("postgresql://u@h:5432", "names no database"),
        ("postgresql:///db", "names no host"),
    ],
)
def test_a_wrong_db_url_is_refused_before_anything_is_made(url, said, tmp_path, dalel):
    r = dalel("--store", tmp_path / "s", "init", "--db", url)
    assert r.code == 2 and said in r.err and "fix:" in r.err
    assert not (tmp_path / "s").exists()
    assert "secret" not in r.err + r.out


def test_an_unreachable_database_is_an_environment_error_without_a_traceback(tmp_path, dalel):
    from testing.postgres import free_port

    r = dalel(
        "--store", tmp_path / "s", "init", "--db", f"postgresql://u@127.0.0.1:{free_port()}/x"
    )
    assert r.code == 4 and "cannot use the database" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "s").exists()


def test_a_wrong_password_is_an_environment_error(postgres_server, tmp_path, dalel, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    r = dalel("--store", tmp_path / "s", "init", "--db", postgres_server.create_database())
    assert r.code == 4 and "password" in r.err.lower() and "Traceback" not in r.err


def test_the_db_url_is_normalised_for_psycopg():
    assert backends.db_url("postgres://a@h/d") == "postgresql+psycopg://a@h/d"
    assert backends.db_url(" postgresql://a@h:1/d?sslmode=require ") == (
        "postgresql+psycopg://a@h:1/d?sslmode=require"
    )


def test_a_lost_postgres_index_is_made_again_from_the_log(store_dir, dalel, inbox, backend):
    from tests.conftest import VALID_IIN

    r = dalel("--store", store_dir, "ingest", inbox, "--observer", VALID_IIN, "--precinct", "5")
    assert r.code == 0, r.err
    lose_index(store_dir)
    assert Store.open(store_dir).index.last_seq() == -1  # made again, empty
    assert dalel("--store", store_dir, "reindex").code == 0
    n = len((store_dir / "log" / "custody.jsonl").read_bytes().splitlines())
    assert Store.open(store_dir).index.last_seq() == n - 1
    assert dalel("--store", store_dir, "audit").code == 0
    assert Store.open(store_dir).index.engine.dialect.name == (
        "postgresql" if backend == "national" else "sqlite"
    )
