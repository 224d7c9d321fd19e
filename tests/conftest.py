"""Fixtures shared by every test package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VALID_IIN = "870412300416"  # a valid check digit
OTHER_IIN = "900101500129"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def dalel(capsys):
    """Run the CLI in-process: ``dalel("--store", d, "audit")`` -> CliResult."""
    from cli import main

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def dalel_subprocess(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    """Run the CLI as a separate process (for kills and concurrency)."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )


def make_photo(path: Path, colour=(200, 30, 30), size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(
        path, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else None
    )
    return path


#: The backends every test that takes ``store_dir`` (or ``filled_store``) runs against: the
#: embedded default (a folder, SQLite) and the national one (the index in PostgreSQL, a real
#: server the tests start: ``testing/postgres.py``).
BACKENDS = ("folder", "postgres")


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session (a database per store)."""
    from testing.postgres import PostgresServer

    with PostgresServer.start() as pg:
        yield pg


@pytest.fixture(params=BACKENDS)
def store_dir(request, tmp_path, monkeypatch) -> Path:
    """A new store, once per backend."""
    from evidence.provision import init_store

    d = tmp_path / "store"
    if request.param == "postgres":
        pg = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("PGPASSWORD", pg.password)  # as an operator gives it
        url = pg.create_database()
        init_store(d, org="Test Coalition", db=url)
        yield d
        pg.drop_database(url)
    else:
        init_store(d, org="Test Coalition")
        yield d


@pytest.fixture
def backend(request) -> str:
    """The backend of this test's ``store_dir`` ("folder" when it takes none)."""
    callspec = getattr(request.node, "callspec", None)
    return callspec.params.get("store_dir", "folder") if callspec else "folder"


def lose_index(store: Path) -> None:
    """The index lost, whatever holds it: the SQLite file deleted, or the PostgreSQL tables
    dropped (``dalel reindex`` makes it again from the log)."""
    from evidence.storage.index_schema import metadata
    from evidence.storage.store import Store

    opened = Store.open(store)
    if opened.index_url == f"sqlite:///{opened.index_path}":
        opened.index_path.unlink()
        return
    from sqlalchemy import create_engine

    engine = create_engine(opened.index_url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
def inbox(tmp_path) -> Path:
    d = tmp_path / "inbox"
    make_photo(d / "protocol-1.jpg", (200, 30, 30))
    make_photo(d / "protocol-2.jpg", (30, 200, 30))
    make_photo(d / "violations" / "stuffing.jpg", (30, 30, 200))
    return d


@pytest.fixture
def filled_store(store_dir, inbox, dalel) -> Path:
    """A store with three ingested photos in two batches (two checkpoints)."""
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        inbox / "protocol-1.jpg",
        inbox / "protocol-2.jpg",
        "--observer",
        VALID_IIN,
        "--precinct",
        "101",
        "--kind",
        "protocol",
    )
    assert r.code == 0, r.err
    r = dalel(
        "--store",
        store_dir,
        "ingest",
        inbox / "violations",
        "--observer",
        OTHER_IIN,
        "--precinct",
        "101",
        "--kind",
        "violation",
    )
    assert r.code == 0, r.err
    return store_dir


def filing_details(
    *,
    iin: str | None = VALID_IIN,
    name: str | None = "Айгерім Сәрсенова",
    respondent: str | None = "Участковая избирательная комиссия № 31",
    event_date: str | None = "2026-11-30",
) -> list[str]:
    """``dalel case set`` options giving a case what a filed complaint needs (addressee,
    respondent, complainant, event date, facts, relief); ``iin``, ``name`` or ``respondent``
    None leaves that as the test set it."""
    args = [
        "--addressee-name", "Территориальная избирательная комиссия Алмалинского района",
        "--complainant-address", "г. Алматы, ул. Абая, 1",
        "--facts", "Наблюдателю выдана копия протокола; цифры расходятся с официальными.",
        "--relief", "Проверить итоги по участку.",
    ]  # fmt: skip
    if event_date is not None:
        args += ["--event-date", event_date]
    if respondent is not None:
        args += ["--respondent", respondent]
    if name is not None:
        args += ["--complainant-name", name]
    if iin is not None:
        args += ["--complainant-iin", iin]
    return args
