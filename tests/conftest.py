"""Fixtures shared by every test package."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from testing.seaweed import SeaweedServer, VersionFile

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
#: embedded default (a folder: objects in ``objects/``, the index in SQLite) and the national
#: one (the index in PostgreSQL, the objects in S3 under Object Lock: real servers the tests
#: start, ``testing/postgres.py`` and ``testing/seaweed.py``).
BACKENDS = ("folder", "national")
#: The bucket of the national stores' objects (a prefix per store), and their retention.
NATIONAL_BUCKET = "dalel-tests"
NATIONAL_RETAIN_DAYS = 1
#: The variables boto3 reads an endpoint, keys or a profile from: none but the test server's.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)
#: The session's SeaweedFS server once started (``delete_object`` and ``tamper_object`` go
#: through its filer).
_SEAWEED: list[SeaweedServer] = []


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session (a database per store)."""
    from testing.postgres import PostgresServer

    with PostgresServer.start() as pg:
        yield pg


@pytest.fixture(scope="session")
def seaweed_server():
    """One SeaweedFS server (S3 with Object Lock) for the session (a prefix per store)."""
    from testing.seaweed import SeaweedServer

    with SeaweedServer.start() as server:
        server.grow(NATIONAL_BUCKET)  # (not with a test's first batch, which a test may time)
        _SEAWEED.append(server)
        try:
            yield server
        finally:
            _SEAWEED.remove(server)


def use_s3(monkeypatch: pytest.MonkeyPatch, server: SeaweedServer) -> None:
    """The server's endpoint and keys in the standard AWS variables, and no others (as an
    operator gives them)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in server.environ().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=BACKENDS)
def store_dir(request, tmp_path, monkeypatch) -> Path:
    """A new store, once per backend."""
    from evidence.provision import init_store

    d = tmp_path / "store"
    if request.param == "national":
        pg = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("PGPASSWORD", pg.password)  # as an operator gives it
        use_s3(monkeypatch, request.getfixturevalue("seaweed_server"))
        url = pg.create_database()
        objects = f"s3://{NATIONAL_BUCKET}/t-{secrets.token_hex(6)}"
        init_store(
            d,
            org="Test Coalition",
            db=url,
            objects=objects,
            retain_days=NATIONAL_RETAIN_DAYS,
        )
        yield d
        pg.drop_database(url)  # (the objects stay: locked for a day, in a server soon gone)
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


def _locked_version(store: Path, sha256: str) -> tuple[SeaweedServer, VersionFile] | None:
    """The filer's file of the S3 version the store reads for an object (None for a folder
    store)."""
    from evidence.storage.s3objects import S3BlobStore
    from evidence.storage.store import Store

    blobs = Store.open(store).objects
    if not isinstance(blobs, S3BlobStore):
        return None
    [server] = _SEAWEED
    version = blobs.version(sha256)
    assert version is not None and version.locked, f"{sha256} is not in the bucket"
    [found] = [
        v
        for v in server.version_files(blobs.bucket, blobs.key(sha256))
        if v.url.endswith("/v_" + version.version_id)
    ]
    return server, found


def tamper_object(store: Path, sha256: str, data: bytes) -> None:
    """An object's bytes replaced behind the store's back, wherever it is: its file in
    ``objects/`` written over, or in S3 the file of its locked version written over through
    SeaweedFS's filer, its lock and checksum kept (S3 then serves ``data`` for it)."""
    from evidence.storage.store import Store

    behind = _locked_version(store, sha256)
    if behind is None:
        path = Store.open(store).objects.path(sha256)
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        server, version = behind
        server.alter_version(version, data)


def delete_object(store: Path, sha256: str) -> None:
    """An object removed behind the store's back, wherever it is: its file in ``objects/``
    deleted, or in S3 the file of its locked version deleted through SeaweedFS's filer."""
    from evidence.storage.store import Store

    behind = _locked_version(store, sha256)
    if behind is None:
        Store.open(store).objects.path(sha256).unlink()
    else:
        server, version = behind
        server.delete_version(version)


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
