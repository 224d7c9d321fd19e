"""Fixtures of the application-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.storage.store import Store


@pytest.fixture(params=["folder", "national"])
def either_store(request, tmp_path: Path, dalel, monkeypatch) -> Store:
    """A store whose workspace state (accounts, sign-ups) is in SQLite files in its folder,
    or in its PostgreSQL database (every web server of a coalition then shares it)."""
    args = ["--store", tmp_path / "s", "init", "--org", "Coalition"]
    if request.param == "national":
        pg = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("PGPASSWORD", pg.password)
        args += ["--db", pg.create_database()]
    assert dalel(*args).code == 0
    return Store.open(tmp_path / "s")
