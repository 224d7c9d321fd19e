"""The job queue reaches the store's PostgreSQL database as the index does: every parameter
of the store's URL (TLS, a socket directory) is kept in the conninfo given to Procrastinate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from psycopg.conninfo import conninfo_to_dict

from pipeline import jobs


def _conninfo(url: str) -> dict[str, str]:
    store = SimpleNamespace(index_url=url, root=Path("/nowhere"))
    return conninfo_to_dict(jobs.conninfo(store))  # type: ignore[arg-type]


def test_the_urls_query_is_kept_sslmode_and_a_socket_directory():
    got = _conninfo("postgresql:///dalel?sslmode=require&host=/var/run/postgresql")
    assert got == {"dbname": "dalel", "sslmode": "require", "host": "/var/run/postgresql"}


def test_host_port_user_and_query_together():
    got = _conninfo(
        "postgresql+psycopg://anna@db.example:5433/dalel"
        "?sslmode=verify-full&sslrootcert=/etc/dalel/ca.pem&connect_timeout=5"
    )
    assert got == {
        "host": "db.example",
        "port": "5433",
        "dbname": "dalel",
        "user": "anna",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/dalel/ca.pem",
        "connect_timeout": "5",
    }


def test_a_host_in_the_query_wins_and_a_repeated_one_is_a_list():
    assert _conninfo("postgresql://ignored/dalel?host=/run/pg")["host"] == "/run/pg"
    assert _conninfo("postgresql:///dalel?host=/run/a&host=/run/b")["host"] == "/run/a,/run/b"


def test_a_sqlite_index_is_still_refused():
    with pytest.raises(jobs.JobsNeedPostgres):
        _conninfo("sqlite:////nowhere/index.sqlite")
